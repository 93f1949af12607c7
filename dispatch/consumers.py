"""The dashboard WebSocket (CONTRACT §7).

A socket joins the groups its user may hear (the command centre, or one agency: the audience
comes from `visibility`, like the API's querysets), says `hello` with the latest seq, and then
forwards event envelopes. A heartbeat carries the latest seq, so a client whose last event was
lost notices and replays it; the same loop re-joins the groups well before the layer's group
expiry, so a socket open for days keeps hearing, and checks that the socket's credentials
still sign its user in (closing it with 4401 otherwise). A socket is accepted only once it is
in its groups: one accepted while Redis was away would say hello and then hear nothing.
"""

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Max

from dispatch.events import COMMAND_CENTRE_GROUP, agency_group
from dispatch.models import IncidentEvent
from dispatch.ws_auth import credential_of, still_signed_in, user_group

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401
HEARTBEAT_SECONDS = 25
# Joining the groups takes milliseconds; a Redis that does not answer within this is treated
# as down and the handshake is refused, so the client tries again instead of waiting.
JOIN_TIMEOUT_SECONDS = 5
# Group joins and leaves in flight at once in one process. redis-py's asyncio pool (which
# channels-redis uses with its defaults: 100 connections since redis-py 8) raises instead of
# waiting when it runs out, so 500 dashboards closing together — a proxy restart, a network
# blip in the control room — failed most of their group_discard calls and left dead members in
# the group for `group_expiry` (a day), where every group_send still pays for them
# (bench/RESULTS.md). Queued behind this limit they all go through.
GROUP_OPERATIONS_AT_ONCE = 20
_group_operation_slots = weakref.WeakKeyDictionary()  # event loop -> Semaphore


def group_operation_slots():
    """The limit above, for the running event loop (an asyncio.Semaphore belongs to one)."""
    loop = asyncio.get_running_loop()
    if loop not in _group_operation_slots:
        _group_operation_slots[loop] = asyncio.Semaphore(GROUP_OPERATIONS_AT_ONCE)
    return _group_operation_slots[loop]


def groups_for(user):
    if user.is_command_centre:
        return [COMMAND_CENTRE_GROUP]
    return [agency_group(user.agency_id)] if user.agency_id else []


@database_sync_to_async
def latest_seq():
    return IncidentEvent.objects.aggregate(seq=Max("seq"))["seq"] or 0


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
        if user is None or not user.is_authenticated or not user.is_active:
            # Accepted, then closed: a browser learns the close code only from an accepted socket.
            await self.accept()
            await self.close(code=UNAUTHORIZED)
            return
        self.user_id = user.pk
        self.credential = credential_of(self.scope)
        self.audience = [*groups_for(user), user_group(user.pk)]
        try:
            await asyncio.wait_for(self.join_groups(), JOIN_TIMEOUT_SECONDS)
            hello = {"type": "hello", "seq": await latest_seq(), "user": await describe(user)}
        except Exception:
            logger.warning("dashboard socket refused: groups not joined", exc_info=True)
            await self.close()  # before accept(): the handshake fails and the client retries
            return
        await self.accept()
        await self.send_json(hello)
        self.heartbeat = asyncio.create_task(self.beat())

    async def join_groups(self):
        for group in self.audience:
            async with group_operation_slots():
                await self.channel_layer.group_add(group, self.channel_name)

    async def beat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                if not await still_signed_in(self.scope, self.user_id):
                    await self.close(code=UNAUTHORIZED)
                    return
                await self.join_groups()
                await self.send_json({"type": "heartbeat", "seq": await latest_seq()})
            except OSError:
                return  # the client is gone (the server says so); disconnect() follows
            except Exception:
                # A Redis or database hiccup must not stop the beat for good: without it the
                # socket would leave its groups at their expiry and go deaf without a sign.
                logger.warning("dashboard heartbeat failed; trying again", exc_info=True)

    async def disconnect(self, code):
        if getattr(self, "heartbeat", None):
            self.heartbeat.cancel()
        for group in getattr(self, "audience", []):
            try:
                async with group_operation_slots():
                    await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                # Redis is away: the membership lapses at the group expiry instead.
                logger.warning("dashboard socket could not leave %s", group, exc_info=True)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Clients only listen: whatever they send, JSON or not, is ignored unread."""

    async def dispatch(self, message):
        # Channels runs `aclose_old_connections()` — a hop to the one shared database thread —
        # before every handler. For an event that is one hop per socket, queued through one
        # thread: with 500 dashboards, over half the server's time per event (bench/RESULTS.md).
        # Forwarding an event touches no database, and every query this consumer makes goes
        # through `database_sync_to_async`, which closes stale connections around itself.
        if message["type"] == "dashboard.event":
            await self.dashboard_event(message)
        else:
            await super().dispatch(message)

    async def dashboard_event(self, message):
        await self.send_json(message["event"])

    async def dashboard_revoke(self, message):
        """A credential of this user ended (`ws_auth.close_sockets`): close if it is ours."""
        if message["credential"] in (None, self.credential):
            await self.close(code=UNAUTHORIZED)
