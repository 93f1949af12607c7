"""The dashboard WebSocket (CONTRACT §7).

A socket joins the groups its user may hear (the command centre, or one agency: the audience
comes from `visibility`, like the API's querysets), says `hello` with the latest seq, and then
forwards event envelopes. A heartbeat carries the latest seq, so a client whose last event was
lost notices and replays it; the same loop re-joins the groups well before the layer's group
expiry, so a socket open for days keeps hearing.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Max

from dispatch.events import COMMAND_CENTRE_GROUP, agency_group
from dispatch.models import IncidentEvent

UNAUTHORIZED = 4401
HEARTBEAT_SECONDS = 25


def groups_for(user):
    if user.is_command_centre:
        return [COMMAND_CENTRE_GROUP]
    return [agency_group(user.agency_id)] if user.agency_id else []


@database_sync_to_async
def latest_seq():
    return IncidentEvent.objects.aggregate(seq=Max("id"))["seq"] or 0


@database_sync_to_async
def describe(user):
    return {
        "username": user.username,
        "role": user.role,
        "agency": user.agency.code if user.agency_id else None,
    }


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    groups = []  # joined in connect(), once we know who is there

    async def connect(self):
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=UNAUTHORIZED)
            return
        self.audience = groups_for(user)
        await self.join_groups()
        await self.send_json(
            {"type": "hello", "seq": await latest_seq(), "user": await describe(user)}
        )
        self.heartbeat = asyncio.create_task(self.beat())

    async def join_groups(self):
        for group in self.audience:
            await self.channel_layer.group_add(group, self.channel_name)

    async def beat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.join_groups()
            await self.send_json({"type": "heartbeat", "seq": await latest_seq()})

    async def disconnect(self, code):
        if getattr(self, "heartbeat", None):
            self.heartbeat.cancel()
        for group in getattr(self, "audience", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """Clients only listen; anything they send is ignored."""

    async def dashboard_event(self, message):
        await self.send_json(message["event"])
