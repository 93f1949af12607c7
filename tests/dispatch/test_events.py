"""The outbox on the real Redis channel layer (REDIS_URL): an event leaves only after its
transaction commits, exactly once, to the command centre and to each agency that may see it; a
dead Redis loses nothing; and the WebSocket's audience always agrees with the API's."""

import asyncio
import logging
import threading
import uuid
from datetime import datetime

import pytest
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.db import transaction

from agencies.models import Agency, Area, Category, User
from calls import intake
from dispatch import events, incidents, visibility
from dispatch.models import IncidentEvent
from tests.conftest import make_user

# How long to wait for a message that should come; and for one that should not (a message
# published after commit is already in Redis when the test looks, so this only bounds a miss).
ARRIVES_WITHIN = 5.0
SILENCE = 0.5


def layer_settings(hosts, prefix):
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": hosts, "prefix": prefix},
        }
    }


@pytest.fixture
def layer(settings):
    """The Redis channel layer under a prefix of this test's own, so nothing else on the same
    Redis (another suite, a running `make run`) can reach our channels or groups."""
    settings.CHANNEL_LAYERS = layer_settings([settings.REDIS_URL], f"test-{uuid.uuid4().hex[:12]}")
    channel_layers.backends.clear()  # the setting_changed signal does this too; be explicit
    layer = get_channel_layer()
    yield layer
    async_to_sync(layer.flush)()
    channel_layers.backends.clear()


class Listener:
    """One dashboard's view of the layer: a channel of its own in the given groups.

    Like a server process, each listener has its own layer instance running on one event loop
    for its whole life (a thread of its own): the Redis layer buffers a process's messages in
    asyncio queues bound to the loop that first used them, so one instance must not hop loops
    the way consecutive `async_to_sync` calls do."""

    def __init__(self, *groups):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.channel = self.run(self.layer.new_channel())
        for group in groups:
            self.run(self.layer.group_add(group, self.channel))

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def next(self, timeout=ARRIVES_WITHIN):
        """The next message on our channel, or None after `timeout` seconds."""

        async def receive():
            try:
                return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            except TimeoutError:
                return None

        return self.run(receive())

    def events(self, count):
        """The next `count` envelopes; fails if fewer arrive, or if one more follows."""
        envelopes = []
        while len(envelopes) < count:
            message = self.next()
            assert message is not None, f"got {len(envelopes)} of {count} events: {envelopes}"
            assert message["type"] == "dashboard.events"
            envelopes.extend(message["events"])
        assert len(envelopes) == count, f"got {len(envelopes)} events, not {count}: {envelopes}"
        assert self.next(SILENCE) is None, "an event arrived twice or one too many came"
        return envelopes

    def close(self):
        self.run(self.layer.close_pools())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def listen(layer):
    """`listen(group, …)` → a Listener, closed after the test."""
    listeners = []

    def make(*groups):
        listeners.append(Listener(*groups))
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()


def agency(code):
    return Agency.objects.get(code=code)


def disaster_in_citangkil():
    """A new incident, its `incident.created` already published (before anybody listens)."""
    incident = incidents.create_incident(
        actor=None,
        category=Category.objects.get(code="DISASTER"),  # BPBD and DPKP
        area=Area.objects.get(code="36.72.08.1007"),
        description="Banjir",
    )
    assert events.publisher.flush()
    return incident


def test_an_event_leaves_only_after_commit_and_once(transactional_db, listen):
    centre = listen(events.COMMAND_CENTRE_GROUP)

    with transaction.atomic():
        event = events.record("incident.updated", data={"note": "inside"})
        assert centre.next(SILENCE) is None, "published before its transaction committed"

    [envelope] = centre.events(1)
    event.refresh_from_db()
    assert envelope["seq"] == event.seq
    assert envelope["event"] == "incident.updated"
    assert envelope["data"] == {"note": "inside"}


def test_a_burst_of_commits_shares_each_groups_messages(transactional_db, listen, monkeypatch):
    """Under load the publisher lingers for the next commits: they reach each group in a
    message or two, not one each, still in seq order."""
    monkeypatch.setattr(events.Publisher, "LINGER_SECONDS", 0.5)
    centre = listen(events.COMMAND_CENTRE_GROUP)

    for n in range(10):
        with transaction.atomic():
            events.record("incident.updated", data={"n": n})

    messages, envelopes = [], []
    while len(envelopes) < 10:
        message = centre.next()
        assert message is not None, f"got {len(envelopes)} of 10 events"
        messages.append(message)
        envelopes.extend(message["events"])
    assert centre.next(SILENCE) is None
    assert [envelope["data"]["n"] for envelope in envelopes] == list(range(10))
    assert [envelope["seq"] for envelope in envelopes] == sorted(e["seq"] for e in envelopes)
    assert len(messages) <= 3, [len(message["events"]) for message in messages]


def test_a_rolled_back_event_is_never_published(transactional_db, listen):
    centre = listen(events.COMMAND_CENTRE_GROUP)

    with pytest.raises(RuntimeError), transaction.atomic():
        event = events.record("incident.updated", data={"note": "doomed"})
        raise RuntimeError("the request failed")

    assert centre.next(SILENCE) is None
    assert not IncidentEvent.objects.filter(pk=event.pk).exists()


def test_events_reach_the_command_centre_and_each_agency_that_may_see_them(
    transactional_db, cilegon, listen
):
    incident = disaster_in_citangkil()
    centre = listen(events.COMMAND_CENTRE_GROUP)
    bpbd = listen(events.agency_group(agency("BPBD").id))
    dpkp = listen(events.agency_group(agency("DPKP").id))
    psc = listen(events.agency_group(agency("PSC119").id))

    with transaction.atomic():
        assignments = incidents.dispatch(incident.id, actor=None)
        assert centre.next(SILENCE) is None
        assert bpbd.next(SILENCE) is None

    by_agency = {a.agency.code: a for a in assignments}
    assert set(by_agency) == {"BPBD", "DPKP"}
    dispatched = IncidentEvent.objects.get(type="incident.dispatched")
    created = {
        e.agency.code: e.seq for e in IncidentEvent.objects.filter(type="assignment.created")
    }

    # The command centre gets all three, in order; each agency the incident-wide event, then
    # its own assignment (never the other agency's); an agency not involved gets nothing.
    assert [(e["type"], e["seq"]) for e in centre.events(3)] == [
        ("incident.updated", dispatched.seq),
        ("assignment.created", min(created.values())),
        ("assignment.created", max(created.values())),
    ]
    for listener, code in ((bpbd, "BPBD"), (dpkp, "DPKP")):
        envelopes = listener.events(2)
        assert [(e["event"], e["seq"]) for e in envelopes] == [
            ("incident.dispatched", dispatched.seq),
            ("assignment.created", created[code]),
        ]
        assert envelopes[1]["data"]["assignment"]["agency"] == code
    assert psc.next(SILENCE) is None


def test_envelope_shape_and_type_mapping(transactional_db, cilegon, listen):
    incident = disaster_in_citangkil()
    [assignment, *_others] = incidents.dispatch(incident.id, actor=None)
    staff = make_user("staff", User.Role.AGENCY_STAFF, assignment.agency.code)
    assert events.publisher.flush()  # the dispatch's events are out before anybody listens
    listener = listen(events.agency_group(assignment.agency_id))

    incidents.acknowledge(assignment.id, actor=staff)

    acknowledged, in_progress = listener.events(2)
    event = IncidentEvent.objects.get(type="assignment.acknowledged")
    assert {"type", "seq", "event", "at", "actor", "data"} <= set(acknowledged)
    assert acknowledged.get("incident", incident.id) == incident.id
    assert acknowledged["type"] == "assignment.updated"
    assert acknowledged["event"] == "assignment.acknowledged"
    assert acknowledged["seq"] == event.seq
    assert datetime.fromisoformat(acknowledged["at"]) == event.at
    assert acknowledged["actor"] == "staff"
    assert acknowledged["data"] == event.data
    assert acknowledged["data"]["assignment"]["status"] == "acknowledged"
    assert (in_progress["type"], in_progress["event"]) == (
        "incident.updated",
        "incident.in_progress",
    )
    assert in_progress["seq"] > acknowledged["seq"]


@pytest.mark.parametrize(
    ("timeline_type", "envelope_type"),
    [
        ("call.created", "call.created"),
        ("call.updated", "call.updated"),
        ("incident.created", "incident.created"),
        ("incident.updated", "incident.updated"),
        ("incident.dispatched", "incident.updated"),
        ("incident.resolved", "incident.updated"),
        ("assignment.created", "assignment.created"),
        ("assignment.acknowledged", "assignment.updated"),
        ("assignment.declined", "assignment.updated"),
        ("escalation.triggered", "escalation.triggered"),
    ],
)
def test_envelope_types(timeline_type, envelope_type):
    assert events.envelope_type(timeline_type) == envelope_type
    assert events.envelope_type(timeline_type) in events.ENVELOPE_TYPES


def test_a_dead_redis_loses_no_event(transactional_db, settings, caplog):
    settings.CHANNEL_LAYERS = layer_settings(["redis://127.0.0.1:1/0"], "dead")
    channel_layers.backends.clear()
    caplog.set_level(logging.WARNING, logger="dispatch.events")

    with transaction.atomic():  # published after commit, and nothing raises
        event = events.record("incident.updated", data={"note": "redis is down"})

    assert IncidentEvent.objects.filter(pk=event.pk, type="incident.updated").exists()
    assert events.publisher.flush()
    event.refresh_from_db()
    assert f"publish of the events with seqs {event.seq} to {event.seq} failed" in caplog.text
    channel_layers.backends.clear()


def test_websocket_audience_agrees_with_the_api(db, cilegon, settings):
    """For every event, the agencies `publish` sends it to are exactly those whose staff get it
    from the API — checked after every step of a scenario with two agencies."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # 11 users
    staff = {
        a.id: make_user(f"staff-{a.code.lower()}", User.Role.AGENCY_STAFF, a.code)
        for a in Agency.objects.all()
    }
    operator = make_user("op", User.Role.OPERATOR)

    def check():
        api = {
            agency_id: set(visibility.events_for(user).values_list("id", flat=True))
            for agency_id, user in staff.items()
        }
        every = list(IncidentEvent.objects.all())
        assert set(visibility.events_for(operator).values_list("id", flat=True)) == {
            e.id for e in every
        }
        for event in every:
            websocket = set(visibility.agencies_seeing_events([event])[0])
            seen_by = {agency_id for agency_id, ids in api.items() if event.id in ids}
            assert websocket == seen_by, (event.type, event.data)

    call, _ = intake.receive_call({"CallSid": "CAaudience", "From": "081234567890"})
    check()
    incident = incidents.update_incident(
        call.incident_id,
        actor=operator,
        category=Category.objects.get(code="DISASTER"),
        area=Area.objects.get(code="36.72.08.1007"),
    )
    check()
    by_agency = {a.agency.code: a for a in incidents.dispatch(incident.id, actor=operator)}
    assert set(by_agency) == {"BPBD", "DPKP"}
    check()
    incidents.acknowledge(by_agency["BPBD"].id, actor=staff[agency("BPBD").id])
    incidents.report_progress(
        by_agency["DPKP"].id, actor=staff[agency("DPKP").id], status="declined", note="Jauh"
    )
    check()
    incidents.report_progress(by_agency["BPBD"].id, actor=operator, status="en_route")
    other = incidents.create_incident(actor=operator, category=Category.objects.get(code="FIRE"))
    incidents.dispatch(other.id, actor=operator, agencies=[agency("DPKP")])
    check()
    incidents.update_incident(incident.id, actor=operator, status="cancelled")
    events.record("incident.note", data={"text": "no incident"})
    check()
    assert IncidentEvent.objects.filter(agency=agency("BPBD")).exists()
    assert IncidentEvent.objects.filter(agency=agency("DPKP")).exists()


def test_a_full_backlog_leaves_the_oldest_to_the_replay_with_one_log_line(monkeypatch, caplog):
    """While the layer hangs, the publisher's queue stays bounded: the newest events wait, the
    oldest are left to the replay (the database has them all), and the log says so once."""
    taken, release, published = threading.Event(), threading.Event(), []

    def hanging_layer(batch):
        taken.set()
        release.wait(ARRIVES_WITHIN)
        published.extend(batch)

    monkeypatch.setattr(events, "publish_committed", hanging_layer)
    caplog.set_level(logging.WARNING, logger="dispatch.events")
    publisher = events.Publisher()
    publisher.MAX_QUEUED = 3
    publisher.submit(["first"])
    assert taken.wait(ARRIVES_WITHIN)
    for number in range(10):
        publisher.submit([number])
    release.set()
    assert publisher.flush()
    assert published == ["first", 7, 8, 9]
    assert caplog.text.count("backlog full") == 1


def test_a_request_never_waits_for_the_layer(transactional_db, cilegon, monkeypatch):
    """The webhook's transaction commits and returns while the layer hangs: the events go out
    afterwards, from the publisher's thread."""
    release, published = threading.Event(), []

    def hanging_layer(batch):
        release.wait(ARRIVES_WITHIN)
        published.extend(event.type for event in batch)

    monkeypatch.setattr(events, "publish_committed", hanging_layer)
    intake.receive_call({"CallSid": "CAnowait", "From": "081234567890"})
    assert published == []
    release.set()
    assert events.publisher.flush()
    assert published == ["incident.created", "call.created"]
