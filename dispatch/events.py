"""The timeline is the outbox: `record()` writes an IncidentEvent in the caller's transaction,
and after commit the process's `publisher` hands it to the channel layer from a thread of its
own (`publish()`, the one way an event leaves the domain): nobody waits for Redis. If Redis is
down the event is still in the database and dashboards replay it from
`GET /api/v1/events/?after=<seq>`."""

import asyncio
import atexit
import collections
import logging
import os
import threading
import time

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.db import close_old_connections, connection, transaction
from rest_framework import serializers

from dispatch import visibility
from dispatch.models import PROVISIONAL_SEQ_OFFSET, IncidentEvent
from dispatch.serialized import serialized

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
    return serialized(EventEnvelopeSerializer, event)


def draft(event_type, *, data, incident=None, agency=None, actor=None):
    """An event not yet written; `record_many` writes it."""
    return IncidentEvent(
        type=event_type,
        incident=incident,
        agency=agency,
        actor=actor if actor is not None and actor.is_authenticated else None,
        data=data,
    )


def record(event_type, *, data, incident=None, agency=None, actor=None):
    """Append to the timeline inside the current transaction; publish once it commits."""
    drafted = draft(event_type, data=data, incident=incident, agency=agency, actor=actor)
    return record_many([drafted])[0]


def record_many(drafts):
    """Append these events, in this order, with one INSERT inside the current transaction;
    publish them once it commits."""
    written = IncidentEvent.objects.bulk_create(drafts, batch_size=1000)
    publish_after_commit(written)
    return written


def publish_after_commit(written):
    """Events just inserted in the current transaction: their provisional seqs, and their
    publishing once it commits."""
    with_provisional_seqs(written)
    transaction.on_commit(lambda: publisher.submit(written))


def publish_written(written):
    """Events inserted by a transaction already committed, outside Django's (the voice
    webhook's fast lane, `loop_database.run_in_transaction`): their provisional seqs, and their
    publishing."""
    publisher.submit(with_provisional_seqs(written))


def with_provisional_seqs(written):
    for event in written:
        event.seq = provisional_seq(event)
    return written


def provisional_seq(event):
    """What the database's insert trigger set (migration 0004), without asking it."""
    if connection.vendor == "postgresql":
        return event.id + PROVISIONAL_SEQ_OFFSET
    return event.id


def with_final_seqs(events):
    """The committed events among these, with the seqs their commits gave them (one query on
    PostgreSQL), in seq order: the order their transactions committed."""
    if connection.vendor != "postgresql":
        return sorted(events, key=lambda event: event.seq)
    table = IncidentEvent._meta.db_table
    with connection.cursor() as cursor:  # the ORM's query building cost more than the query
        cursor.execute(
            f"SELECT id, seq FROM {table} WHERE id = ANY(%s)",  # noqa: S608 (table name only)
            [[event.pk for event in events]],
        )
        seqs = dict(cursor.fetchall())
    committed = [event for event in events if seqs.get(event.pk) is not None]
    for event in committed:
        event.seq = seqs[event.pk]
    if len(committed) < len(events):
        logger.warning("%d events not found to publish", len(events) - len(committed))
    return sorted(committed, key=lambda event: event.seq)


class Sender:
    """Runs the async group sends for the publisher's thread: on one event loop per process,
    in a daemon thread of its own (re-created after a fork), so all sends share one Redis
    connection pool instead of a new loop and connection per send (what `async_to_sync` does
    in a thread without a loop)."""

    TIMEOUT_SECONDS = 3

    def __init__(self):
        self.loop = None
        self.pid = None
        self.lock = threading.Lock()
        self.layer = None
        self.layer_of = None

    def running_loop(self):
        with self.lock:
            if self.loop is None or self.pid != os.getpid():
                self.loop, self.pid = asyncio.new_event_loop(), os.getpid()
                threading.Thread(
                    target=self.loop.run_forever, name="event-sender", daemon=True
                ).start()
            return self.loop

    async def channel_layer(self):
        """The default layer's configuration in an instance of the sender's own: its Redis
        connections belong to the sender's loop, and nobody else's flush closes them from
        another loop. Made again when the default layer is (a settings change)."""
        default = get_channel_layer()
        if self.layer_of is not default:
            if self.layer is not None:
                await self.layer.close_pools()
            self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
            self.layer_of = default
        return self.layer

    def send(self, messages):
        """Send each group its message (`{group: message}`), all in one hand-off to the
        sender's loop."""
        future = asyncio.run_coroutine_threadsafe(send_to_groups(messages), self.running_loop())
        future.result(timeout=self.TIMEOUT_SECONDS)


sender = Sender()


async def send_to_groups(messages):
    """Each group's message, naming its group: a web process hears all its groups on one
    channel and hands each message only to its sockets in that group (`dispatch.hub`)."""
    layer = await sender.channel_layer()
    for group, message in messages.items():
        await layer.group_send(group, {**message, "group": group})


def publish(events, audiences):
    """Send committed events, their final seqs known and in seq order, each to the command
    centre and to the groups of its audience (the agencies that may see it): one message per
    group with that group's events, in order, so a burst costs each group one Redis message,
    not one per event. Never raises: the database already holds the events, so a broken layer
    costs latency, not data."""
    by_group = collections.defaultdict(list)
    for event, agency_ids in zip(events, audiences, strict=True):
        shaped = envelope(event)
        by_group[COMMAND_CENTRE_GROUP].append(shaped)
        for agency_id in agency_ids:
            by_group[agency_group(agency_id)].append(shaped)
    messages = {
        group: {"type": "dashboard.events", "events": shaped} for group, shaped in by_group.items()
    }
    try:
        sender.send(messages)
    except Exception:
        logger.warning(
            "publish of the events with seqs %s to %s failed; clients will replay them",
            events[0].seq,
            events[-1].seq,
            exc_info=True,
        )


def publish_committed(events):
    """Publish events whose transactions committed, in commit order: their seqs and audiences
    asked of the database once for all. Never raises."""
    try:
        committed = with_final_seqs(events)
        audiences = visibility.agencies_seeing_events(committed)
    except Exception:
        logger.warning(
            "seqs of %d events unknown; clients will replay them", len(events), exc_info=True
        )
        return
    if committed:
        publish(committed, audiences)


class Publisher:
    """Publishes committed events from a thread of its own, so no request or task waits for
    the channel layer: `submit` (on commit) only queues them. One per process (re-created
    after a fork), publishing what is queued in the order it was queued, each batch in commit
    order, with one message per group. Under load a batch waits up to LINGER_SECONDS after
    the last one, so the commits of those milliseconds share its query and its messages; an
    event after a quiet spell goes at once. Safe because the timeline is the outbox: an event
    the layer never gets is still in the database, and clients replay it
    (`GET /api/v1/events/?after=`). While the layer is down the queue is bounded: beyond
    MAX_QUEUED the oldest events are left to the replay, with a log line. A process that
    exits first publishes what it queued (up to EXIT_WAIT_SECONDS)."""

    MAX_QUEUED = 10_000
    MAX_BATCH = 500
    LINGER_SECONDS = 0.01
    EXIT_WAIT_SECONDS = 5

    def __init__(self):
        self.start()
        os.register_at_fork(after_in_child=self.start)
        atexit.register(self.flush, self.EXIT_WAIT_SECONDS)

    def start(self):
        self.queue = collections.deque()
        self.ready = threading.Condition()
        self.busy = False
        self.dropping = False
        self.thread = None

    def submit(self, events):
        with self.ready:
            self.queue.extend(events)
            overflow = len(self.queue) - self.MAX_QUEUED
            if overflow > 0:
                for _ in range(overflow):
                    self.queue.popleft()
                if not self.dropping:
                    logger.warning(
                        "event publisher backlog full (%d): the oldest events are left to "
                        "the replay until it drains",
                        self.MAX_QUEUED,
                    )
                self.dropping = True
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="event-publisher", daemon=True)
                self.thread.start()
            self.ready.notify()

    def run(self):
        last_batch_at = 0.0
        while True:
            with self.ready:
                self.ready.wait_for(lambda: self.queue)
            self.linger(since=last_batch_at)
            last_batch_at = time.monotonic()
            with self.ready:
                count = min(len(self.queue), self.MAX_BATCH)
                batch = [self.queue.popleft() for _ in range(count)]
                self.busy = True
            try:
                publish_committed(batch)
                close_old_connections()
            except Exception:
                logger.exception("event publisher: a batch failed; clients will replay it")
            finally:
                with self.ready:
                    self.busy = False
                    self.dropping = self.dropping and bool(self.queue)
                    self.ready.notify_all()

    def linger(self, since):
        """Under load, let the commits of the next few milliseconds join the batch: one seq
        query and one message per group for all of them. After a quiet spell an event goes at
        once."""
        idle = time.monotonic() - since
        if idle < self.LINGER_SECONDS:
            time.sleep(self.LINGER_SECONDS - idle)

    def flush(self, timeout=10):
        """Wait until every event submitted so far has been handed to the layer; whether it
        was. For tests, and for a process about to exit."""
        with self.ready:
            return self.ready.wait_for(lambda: not self.queue and not self.busy, timeout)


publisher = Publisher()
