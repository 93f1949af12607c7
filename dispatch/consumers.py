"""The dashboard WebSocket (CONTRACT §7).

A socket joins the groups its user may hear (the command centre, or one agency: the audience
comes from `visibility`, like the API's querysets) through the process's hub (`dispatch.hub`),
says `hello` with the latest seq, and then forwards the event envelopes the hub hands it. A
heartbeat carries the latest seq, so a client whose last event was lost notices and replays it,
and checks that the socket's credentials still sign its user in (closing it with 4401
otherwise). A socket is accepted only once the process is in its groups: one accepted while
Redis was away would say hello and then hear nothing.
"""

import asyncio
import json
import logging
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Max

from dispatch.events import COMMAND_CENTRE_GROUP, agency_group
from dispatch.hub import hub
from dispatch.models import IncidentEvent
from dispatch.ws_auth import credential_of, sign_in_of, signed_in_users, user_group

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401
HEARTBEAT_SECONDS = 25
# Joining the groups takes milliseconds; a Redis that does not answer within this is treated
# as down and the handshake is refused, so the client tries again instead of waiting.
JOIN_TIMEOUT_SECONDS = 5
# Events waiting for one socket whose client does not read (its TCP buffer is full). Beyond
# this the socket drops events, as the layer dropped them over its channel capacity before; the
# client sees the gap in the seqs and replays it once it reads again.
OUTBOX_LIMIT = 1500
CLOSE_UNAUTHORIZED = {"type": "websocket.close", "code": UNAUTHORIZED}


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


_heartbeats = weakref.WeakKeyDictionary()  # event loop -> the process's heartbeat task


def keep_beating():
    loop = asyncio.get_running_loop()
    if loop not in _heartbeats or _heartbeats[loop].done():
        _heartbeats[loop] = asyncio.create_task(beat())


async def beat():
    """The heartbeat of every socket of the process at once: one latest seq, one trip to the
    database thread that checks each distinct credential, one JSON text. (A beat per socket
    cost two trips and two new database connections each: at 2,000 sockets, more of the
    server's time than the events themselves; bench/RESULTS.md.) Ends with the last socket."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        sockets = hub().registered()
        if not sockets:
            return
        try:
            seq = await latest_seq()
            users = await signed_in_users({socket.sign_in for socket in sockets})
        except Exception:
            # A database hiccup must not stop the beat for good: without it no socket would
            # notice a credential that ended silently, nor get the latest seq.
            logger.warning("dashboard heartbeat failed; trying again", exc_info=True)
            continue
        text = json.dumps({"type": "heartbeat", "seq": seq})
        for socket in sockets:
            socket.heartbeat(text, users[socket.sign_in])


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """One dashboard socket. It has no layer channel of its own (no layer alias: Channels then
    neither makes one nor listens on it): the process's hub hears the groups for every socket
    and hands it its events. Everything the socket sends after its hello goes through its
    outbox, in order, written by one task: a client that does not read holds up only itself."""

    channel_layer_alias = None
    groups = []  # Channels' own group joins: none; the hub joins in connect()

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            # Accepted, then closed: a browser learns the close code only from an accepted socket.
            await self.accept()
            await self.close(code=UNAUTHORIZED)
            return
        self.user_id = user.pk
        self.credential = credential_of(self.scope)
        self.sign_in = sign_in_of(self.scope)
        self.audience = [*groups_for(user), user_group(user.pk)]
        self.outbox = asyncio.Queue()
        self.hub = hub()
        try:
            await asyncio.wait_for(self.hub.join(self, self.audience), JOIN_TIMEOUT_SECONDS)
            hello = {"type": "hello", "seq": await latest_seq(), "user": await describe(user)}
        except Exception:
            logger.warning("dashboard socket refused: groups not joined", exc_info=True)
            await self.close()  # before accept(): the handshake fails and the client retries
            return  # disconnect() follows, and leaves the hub
        await self.accept()
        await self.send_json(hello)
        self.writer = asyncio.create_task(self.write())
        keep_beating()

    def forward(self, text):
        """JSON for the client: an event from the hub, or a heartbeat."""
        self.post({"type": "websocket.send", "text": text})

    def revoke(self, credential):
        """A credential of this user ended (`ws_auth.close_sockets`): close if it is ours."""
        if credential in (None, self.credential):
            self.post(CLOSE_UNAUTHORIZED)

    def post(self, message):
        if message["type"] == "websocket.send" and self.outbox.qsize() >= OUTBOX_LIMIT:
            logger.warning("dashboard socket of user %s not reading: event dropped", self.user_id)
            return
        self.outbox.put_nowait(message)

    async def write(self):
        while True:
            message = await self.outbox.get()
            try:
                await self.base_send(message)
            except OSError:
                return  # the client is gone (the server says so); disconnect() follows
            if message["type"] == "websocket.close":
                return

    def heartbeat(self, text, user_id):
        """From the process's heartbeat: `user_id` is who the socket's credentials sign in now."""
        if user_id == self.user_id:
            self.forward(text)
        else:
            self.post(CLOSE_UNAUTHORIZED)

    async def disconnect(self, code):
        if getattr(self, "writer", None):
            self.writer.cancel()
        if hasattr(self, "hub"):
            await self.hub.leave(self, self.audience)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Clients only listen: whatever they send, JSON or not, is ignored unread."""
