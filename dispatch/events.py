"""The timeline is the outbox: `record()` writes an IncidentEvent in the caller's transaction,
and after commit `publish()` — the one way an event leaves the domain — hands it to the channel
layer. If Redis is down the event is still in the database and dashboards replay it from
`GET /api/v1/events/?after=<seq>`."""

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from rest_framework import serializers

from dispatch import visibility
from dispatch.models import PROVISIONAL_SEQ_OFFSET, IncidentEvent

logger = logging.getLogger(__name__)

# What a dashboard receives. Timeline types are finer (`assignment.acknowledged`); each maps to
# one of these envelope types, and the envelope carries the timeline type as `event`.
ENVELOPE_TYPES = frozenset(
    {
        "call.created",
        "call.updated",
        "incident.created",
        "incident.updated",
        "assignment.created",
        "assignment.updated",
        "escalation.triggered",
    }
)

COMMAND_CENTRE_GROUP = "dashboard.command-centre"


def agency_group(agency_id):
    return f"dashboard.agency.{agency_id}"


def envelope_type(event_type):
    if event_type in ENVELOPE_TYPES:
        return event_type
    return event_type.split(".", 1)[0] + ".updated"


class EventEnvelopeSerializer(serializers.Serializer):
    """The one shape of an event, wherever it goes: the WebSocket, the replay
    (`GET /api/v1/events/`) and an incident's timeline (`GET /api/v1/incidents/{id}/events/`).
    Only `type` differs, as the contract says: the envelope type on the socket and the replay
    (§7), the timeline type on the timeline (§5). `event` is the timeline type everywhere."""

    # One class, so the OpenAPI schema documents the envelope once; the timeline endpoint
    # serializes with {"timeline": True} in the context.
    type = serializers.SerializerMethodField(
        help_text="The envelope type (call.created, call.updated, incident.created, "
        "incident.updated, assignment.created, assignment.updated, escalation.triggered); "
        "on incidents/{id}/events/ the timeline type, as in `event`."
    )
    seq = serializers.IntegerField(read_only=True)
    event = serializers.CharField(
        source="type", read_only=True, help_text="The timeline type, e.g. assignment.acknowledged."
    )
    at = serializers.DateTimeField(read_only=True)
    actor = serializers.CharField(
        source="actor.username",
        read_only=True,
        allow_null=True,
        help_text="Who did it; null: the system.",
    )
    incident = serializers.IntegerField(
        source="incident_id", read_only=True, allow_null=True, help_text="The incident it is about."
    )
    data = serializers.DictField(
        read_only=True, help_text="The objects concerned, in the API's shapes (dispatch.payloads)."
    )

    def get_type(self, event) -> str:
        if self.context.get("timeline"):
            return event.type
        return envelope_type(event.type)


def envelope(event):
    return dict(EventEnvelopeSerializer(event).data)


def record(event_type, *, data, incident=None, agency=None, actor=None):
    """Append to the timeline inside the current transaction; publish once it commits."""
    event = IncidentEvent.objects.create(
        type=event_type,
        incident=incident,
        agency=agency,
        actor=actor if actor is not None and actor.is_authenticated else None,
        data=data,
    )
    event.seq = provisional_seq(event)
    transaction.on_commit(lambda: publish(event))
    return event


def provisional_seq(event):
    """What the database's insert trigger set (migration 0004), without asking it."""
    if connection.vendor == "postgresql":
        return event.id + PROVISIONAL_SEQ_OFFSET
    return event.id


def final_seq(event):
    """The seq the commit gave the event (PostgreSQL); an uncommitted event's own (tests)."""
    if connection.vendor != "postgresql":
        return event.seq
    return IncidentEvent.objects.filter(pk=event.pk).values_list("seq", flat=True).first()


class Sender:
    """Runs the async group sends for synchronous callers. In the web server `async_to_sync`
    hands them to the server's loop. A Celery worker has no loop, and there `async_to_sync`
    would make a new loop — and a new Redis connection — for every send; `dispatch.celery`
    switches its processes to one loop per process, in a daemon thread (re-created after a
    fork)."""

    TIMEOUT_SECONDS = 3

    def __init__(self):
        self.own_loop = False
        self.loop = None
        self.pid = None
        self.lock = threading.Lock()

    def use_own_loop(self):
        self.own_loop = True

    def running_loop(self):
        with self.lock:
            if self.loop is None or self.pid != os.getpid():
                self.loop, self.pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(
                    target=self.loop.run_forever, name="event-publisher", daemon=True
                ).start()
            return self.loop

    def send(self, groups, message):
        if not self.own_loop:
            async_to_sync(send_to_groups)(groups, message)
            return
        future = asyncio.run_coroutine_threadsafe(
            send_to_groups(groups, message), self.running_loop()
        )
        future.result(timeout=self.TIMEOUT_SECONDS)


sender = Sender()


async def send_to_groups(groups, message):
    """One copy per group, naming its group: a web process hears all its groups on one channel
    and hands each copy only to its sockets in that group (`dispatch.hub`)."""
    layer = get_channel_layer()
    for group in groups:
        await layer.group_send(group, {**message, "group": group})


def publish(event):
    """Send a committed event to every dashboard group that may see it. Never raises: the
    database already holds the event, so a broken layer costs latency, not data."""
    try:
        event.seq = final_seq(event)
    except Exception:
        logger.warning("seq of event %s unknown; clients will replay it", event.id, exc_info=True)
        return
    message = {"type": "dashboard.event", "event": envelope(event)}
    groups = [COMMAND_CENTRE_GROUP] + [
        agency_group(agency_id) for agency_id in visibility.agencies_seeing_event(event)
    ]
    try:
        sender.send(groups, message)
    except Exception:
        logger.warning(
            "publish of event %s failed; clients will replay it", event.seq, exc_info=True
        )
