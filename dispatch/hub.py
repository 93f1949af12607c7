"""This process's side of the dashboard fan-out (CONTRACT §7).

The channel layer carries dashboard messages between processes through Redis: web processes
and Celery workers publish to groups (the command centre, one per agency, one per user). A web
process does not give each of its sockets a layer channel of its own: it listens on ONE channel,
joined to every group one of its sockets may hear, and hands each message to those sockets in
memory. A group send then costs Redis one message per process instead of one per socket, and
the process decodes it once and JSON-encodes the event once, instead of once per socket. With a
channel per socket, 500 dashboards spent half the server's time per event in channels-redis's
receive buffers and in Channels' consumer loop (bench/RESULTS.md, "WebSocket fan-out").

Every message names its group (`events.send_to_groups`): a publisher's batch sends each group
one message with that group's events in seq order, and the hub hands them only to the sockets
registered in that group: a socket hears exactly what it heard with a channel of its own. The
process's channel is in a group while at least one of its sockets is: joined before the socket
is accepted, left when the last one leaves. It re-joins its groups well before the layer's group
expiry, and after a failed receive (a restarted Redis has forgotten them).
"""

import asyncio
import json
import logging
import weakref

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# How often the process re-joins its groups: well within the layer's group expiry (a day), and
# soon after a Redis restart that lost them (clients replay what they missed meanwhile).
REJOIN_SECONDS = 25
# After a failed receive (Redis away), before listening again.
RETRY_SECONDS = 1
# Group joins and leaves in flight at once. redis-py's asyncio pool (which channels-redis uses
# with its defaults: 100 connections since redis-py 8) raises instead of waiting when it runs
# out, so 500 dashboards closing together failed most of their leaves (bench/RESULTS.md).
GROUP_OPERATIONS_AT_ONCE = 20

_hubs = weakref.WeakKeyDictionary()  # event loop -> Hub


def hub():
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub(get_channel_layer())
    return _hubs[loop]


class Membership:
    """The process's part in one group: its sockets there, and whether its channel is in."""

    def __init__(self):
        self.sockets = set()
        self.joined = False
        self.lock = asyncio.Lock()  # one join or leave of the group at a time


class Hub:
    """Registered sockets need `forward(text)` (an event's JSON) and `revoke(credential)`."""

    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.groups = {}  # group -> Membership
        self.slots = asyncio.Semaphore(GROUP_OPERATIONS_AT_ONCE)
        self.tasks = []  # listening and re-joining, while any group is held

    async def join(self, socket, groups):
        """Register `socket` for `groups`; returns once the process's channel is in each of
        them. Raises if Redis does not take a join: then `leave()` the same groups."""
        await self.start()
        for group in groups:
            self.groups.setdefault(group, Membership()).sockets.add(socket)
        for group in groups:
            await self.settle(group)

    async def leave(self, socket, groups):
        """Unregister `socket`; the process leaves the groups it no longer needs. Never raises:
        a membership Redis would not drop is tried again at the next re-join, and lapses at the
        group expiry otherwise."""
        for group in groups:
            if group in self.groups:
                self.groups[group].sockets.discard(socket)
        for group in groups:
            try:
                await self.settle(group)
            except Exception:
                logger.warning("this process could not leave %s", group, exc_info=True)
        if not self.groups:
            self.stop()

    def registered(self):
        """Every socket registered, in any group."""
        return {socket for membership in self.groups.values() for socket in membership.sockets}

    async def settle(self, group, *, rejoin=False):
        """Bring the process's membership of `group` in line with its sockets there: in while
        any socket is (again if `rejoin`), out once none is."""
        membership = self.groups.get(group)
        if membership is None:
            return
        async with membership.lock:
            wanted = bool(membership.sockets)
            if wanted and (rejoin or not membership.joined):
                async with self.slots:
                    await self.layer.group_add(group, self.channel)
                membership.joined = True
            elif not wanted and membership.joined:
                async with self.slots:
                    await self.layer.group_discard(group, self.channel)
                membership.joined = False
        unused = not membership.sockets and not membership.joined
        if unused and self.groups.get(group) is membership:
            del self.groups[group]

    async def start(self):
        if self.channel is None:
            channel = await self.layer.new_channel()
            self.channel = self.channel or channel
        if not self.tasks:
            self.tasks = [asyncio.create_task(self.listen()), asyncio.create_task(self.keep())]

    def stop(self):
        for task in self.tasks:
            task.cancel()
        self.tasks = []

    async def listen(self):
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.warning("dashboard hub: receive failed; joining again", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                await self.rejoin()
                continue
            try:
                self.deliver(message)
            except Exception:
                logger.exception("dashboard hub: could not deliver %s", message.get("type"))

    async def keep(self):
        while True:
            await asyncio.sleep(min(REJOIN_SECONDS, self.layer.group_expiry / 2))
            await self.rejoin()

    async def rejoin(self):
        """Every group again. Stops at the first failure, which is nearly always Redis being
        away (one warning, not one per group); the next round tries them all again."""
        try:
            for group in list(self.groups):
                await self.settle(group, rejoin=True)
        except Exception:
            logger.warning("this process could not re-join its groups", exc_info=True)

    def deliver(self, message):
        """Hand one group's copy of a message to the process's sockets in that group."""
        membership = self.groups.get(message.get("group"))
        if membership is None:
            return  # its last socket here left while the message was on its way
        if message["type"] == "dashboard.events":
            for event in message["events"]:
                text = json.dumps(event)  # once per event, not once per socket
                for socket in membership.sockets:
                    socket.forward(text)
        elif message["type"] == "dashboard.revoke":
            for socket in list(membership.sockets):
                socket.revoke(message["credential"])
