"""The dashboard WebSocket (CONTRACT §7) end to end: `config.asgi.application` (origin check,
session and token auth, the consumer) on the real Redis channel layer (REDIS_URL), with events
made the way production makes them — a Twilio webhook, then the incident services, each
committing before its events are published.

What is pinned: who may connect (4401 otherwise), the hello, who hears which event and in what
order, that a socket hears exactly what the replay endpoint returns for the same user, that
events missed while disconnected come back from the replay, and the heartbeat."""

import asyncio
import json
from decimal import Decimal

import channels.consumer
import pytest
from channels.db import database_sync_to_async
from rest_framework.authtoken.models import Token

from agencies.models import Agency, User
from dispatch import consumers, events, incidents
from dispatch.hub import hub
from dispatch.models import IncidentEvent
from tests.conftest import api_as, make_user
from tests.dispatch.sockets import (
    ARRIVES_WITHIN,
    ORIGIN,
    SILENCE,
    connect_as,
    incoming_call,
    receive,
    session_cookie,
    token_header,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_heartbeat")]


@pytest.fixture
def bpbd_staff(cilegon):
    return make_user("bpbd_staff", User.Role.AGENCY_STAFF, "BPBD")


async def assert_unauthorized(communicator):
    """The consumer accepts, then closes with 4401: a browser learns the close code only from a
    socket that was accepted (a refused handshake is just a failed connection)."""
    assert communicator.connected
    message = await communicator.receive_output(timeout=ARRIVES_WITHIN)
    assert message == {"type": "websocket.close", "code": consumers.UNAUTHORIZED}


@database_sync_to_async
def latest_seq():
    return IncidentEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


@database_sync_to_async
def envelopes_after(seq):
    """Every event after `seq`, in the envelope the command centre should get, oldest first."""
    timeline = IncidentEvent.objects.filter(seq__gt=seq).select_related("actor").order_by("seq")
    return [events.envelope(event) for event in timeline]


@database_sync_to_async
def replay(user, after):
    response = api_as(user).get("/api/v1/events/", {"after": after, "page_size": 500})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None, "the scenario outgrew one page"
    return body["results"]


def agency(code):
    return Agency.objects.get(code=code)


def summary(envelope):
    """(timeline type, agency of the assignment or None) — what an assertion needs to read."""
    assignment = envelope["data"].get("assignment")
    return envelope["event"], assignment["agency"] if assignment else None


def dispatch_and_acknowledge(incident_id, operator, dpkp_staff, psc_staff):
    """The operator dispatches to DPKP and PSC119 (routing overridden); both acknowledge.
    Every service call is its own transaction, so its events go out in that order."""
    created = incidents.dispatch(
        incident_id, actor=operator, agencies=[agency("DPKP"), agency("PSC119")]
    )
    by_code = {assignment.agency.code: assignment for assignment in created}
    incidents.acknowledge(by_code["DPKP"].id, actor=dpkp_staff)
    incidents.acknowledge(by_code["PSC119"].id, actor=psc_staff)
    return by_code


@database_sync_to_async
def call_to_acknowledgement(operator, dpkp_staff, psc_staff):
    """The scenario: a call comes in, its incident goes to DPKP and PSC119, both acknowledge."""
    call = incoming_call()
    dispatch_and_acknowledge(call.incident_id, operator, dpkp_staff, psc_staff)
    return call.incident_id


# What each audience hears of that scenario, in order.
EVERY_EVENT = [
    ("incident.created", None),
    ("call.created", None),
    ("incident.dispatched", None),
    ("assignment.created", "DPKP"),
    ("assignment.created", "PSC119"),
    ("assignment.acknowledged", "DPKP"),
    ("incident.in_progress", None),
    ("assignment.acknowledged", "PSC119"),
]
DPKP_HEARS = [
    ("incident.dispatched", None),
    ("assignment.created", "DPKP"),
    ("assignment.acknowledged", "DPKP"),
    ("incident.in_progress", None),
]
PSC119_HEARS = [
    ("incident.dispatched", None),
    ("assignment.created", "PSC119"),
    ("incident.in_progress", None),
    ("assignment.acknowledged", "PSC119"),
]


# --- who may connect ---------------------------------------------------------------------


async def test_anonymous_is_closed_with_4401(sockets):
    await assert_unauthorized(await sockets(ORIGIN))


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Token 0123456789abcdef0123456789abcdef01234567", id="unknown-token"),
        pytest.param(b"Token", id="scheme-without-key"),
        pytest.param(b"Token    ", id="blank-key"),
        pytest.param(b"Bearer 0123456789abcdef", id="other-scheme"),
        pytest.param(b"0123456789abcdef", id="no-scheme"),
    ],
)
async def test_an_unknown_or_malformed_token_is_closed_with_4401(sockets, operator, authorization):
    await database_sync_to_async(Token.objects.create)(user=operator)  # some token exists
    await assert_unauthorized(await sockets(ORIGIN, (b"authorization", authorization)))


async def test_a_malformed_token_is_not_rescued_by_a_valid_session(sockets, operator):
    """A token header, when present, decides alone: an integration with a broken token must
    see the failure, not run on whatever session its cookie jar holds."""
    cookie = await database_sync_to_async(session_cookie)(operator)
    await assert_unauthorized(await sockets(ORIGIN, cookie, (b"authorization", b"Token")))


async def test_an_unknown_session_is_closed_with_4401(sockets, cilegon):
    await assert_unauthorized(await sockets(ORIGIN, (b"cookie", b"sessionid=not-a-session")))


async def test_a_deactivated_users_token_is_closed_with_4401(sockets, operator):
    header = await database_sync_to_async(token_header)(operator)
    operator.is_active = False
    await database_sync_to_async(operator.save)()
    await assert_unauthorized(await sockets(ORIGIN, header))


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param([(b"origin", b"http://evil.example")], id="foreign-origin"),
        pytest.param([(b"origin", b"http://testserver.evil.example")], id="lookalike-origin"),
        pytest.param([], id="no-origin"),
    ],
)
async def test_an_origin_not_in_allowed_hosts_is_refused(sockets, operator, origin):
    """Cross-site WebSocket hijacking: a page elsewhere must not ride a logged-in browser's
    cookie. Refused at the handshake, even with valid credentials."""
    cookie = await database_sync_to_async(session_cookie)(operator)
    communicator = await sockets(*origin, cookie)
    assert not communicator.connected


# --- hello ---------------------------------------------------------------------------------


async def test_session_cookie_login_and_hello(sockets, operator):
    await database_sync_to_async(incoming_call)()  # so the latest seq is not 0
    latest = await latest_seq()
    assert latest > 0

    _communicator, hello = await connect_as(sockets, operator, auth=session_cookie)

    assert hello == {
        "type": "hello",
        "seq": latest,
        "user": {"username": "op", "role": "operator", "agency": None},
    }


async def test_token_login_and_hello(sockets, dpkp_staff):
    """Agency staff: the hello names the agency; its seq is the latest of all events (the
    point to replay from), not only of the ones this user may see."""
    await database_sync_to_async(incoming_call)()
    latest = await latest_seq()

    communicator, hello = await connect_as(sockets, dpkp_staff)

    assert hello == {
        "type": "hello",
        "seq": latest,
        "user": {"username": "dpkp_staff", "role": "agency_staff", "agency": "DPKP"},
    }
    assert await communicator.receive_nothing(timeout=SILENCE)


async def test_hello_seq_is_zero_before_any_event(sockets, supervisor):
    _communicator, hello = await connect_as(sockets, supervisor, auth=session_cookie)
    assert hello["seq"] == 0
    assert hello["user"] == {"username": "sup", "role": "supervisor", "agency": None}


# --- who hears what ------------------------------------------------------------------------


async def test_the_command_centre_hears_every_event_in_seq_order(
    sockets, operator, dpkp_staff, psc_staff
):
    communicator, hello = await connect_as(sockets, operator)

    await call_to_acknowledgement(operator, dpkp_staff, psc_staff)

    expected = await envelopes_after(hello["seq"])
    received = await receive(communicator, len(expected))
    assert received == expected  # whole envelopes: type, seq, event, at, actor, incident, data
    assert [summary(envelope) for envelope in received] == EVERY_EVENT
    for envelope in received:
        assert set(envelope) == {"type", "seq", "event", "at", "actor", "incident", "data"}
        assert envelope["type"] in events.ENVELOPE_TYPES
    seqs = [envelope["seq"] for envelope in received]
    assert seqs == sorted(seqs) and seqs[0] > hello["seq"]
    assert received[5]["actor"] == "dpkp_staff"  # DPKP's acknowledgement
    assert received[2]["actor"] == "op"  # the dispatch


async def test_each_agency_hears_only_its_assignments_and_the_incidents_it_holds(
    sockets, operator, dpkp_staff, psc_staff, bpbd_staff
):
    dpkp, _ = await connect_as(sockets, dpkp_staff)
    psc, _ = await connect_as(sockets, psc_staff, auth=session_cookie)
    bpbd, _ = await connect_as(sockets, bpbd_staff)

    incident_id = await call_to_acknowledgement(operator, dpkp_staff, psc_staff)

    for communicator, code, hears in ((dpkp, "DPKP", DPKP_HEARS), (psc, "PSC119", PSC119_HEARS)):
        received = await receive(communicator, len(hears))
        assert [summary(envelope) for envelope in received] == hears, code
        seqs = [envelope["seq"] for envelope in received]
        assert seqs == sorted(seqs)
        for envelope in received:
            assert envelope["incident"] == incident_id
            assert not envelope["event"].startswith("call.")
            if envelope["event"].startswith("assignment."):
                assert envelope["data"]["assignment"]["agency"] == code
            else:
                assert envelope["event"].startswith("incident.")
    # An agency with no assignment hears nothing at all.
    assert await bpbd.receive_nothing(timeout=SILENCE)


async def test_forwarding_an_event_makes_no_trip_to_the_database_thread(
    sockets, monkeypatch, operator
):
    """Channels closes stale database connections before every handler, through the one shared
    sync thread; forwarding an event needs no database, and with hundreds of sockets those trips
    were most of the cost of an event (bench/RESULTS.md)."""
    trips = []
    real_close = channels.consumer.aclose_old_connections

    async def counting_close():
        trips.append(None)
        await real_close()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting_close)
    communicator, _ = await connect_as(sockets, operator)
    assert trips, "the connect should have gone through Channels' own dispatch"
    before = len(trips)

    await database_sync_to_async(incoming_call)()
    await receive(communicator, 2)

    assert len(trips) == before


@database_sync_to_async
def busy_afternoon(operator, dpkp_staff, psc_staff, first_id, second_id):
    """Much happens after the sockets said hello. The incidents the agencies get were opened
    before that (see the next test for why that matters)."""
    by_code = dispatch_and_acknowledge(first_id, operator, dpkp_staff, psc_staff)
    incidents.update_incident(first_id, actor=operator, description="Kebakaran gudang, 2 lantai")
    incidents.dispatch(second_id, actor=operator, agencies=[agency("PSC119")])
    incidents.report_progress(by_code["DPKP"].id, actor=dpkp_staff, status="en_route")
    incidents.report_progress(
        by_code["PSC119"].id, actor=psc_staff, status="declined", note="Ambulans penuh"
    )
    incoming_call()  # a new call nobody is dispatched to: the command centre's alone
    incidents.update_incident(second_id, actor=operator, status="cancelled")


async def test_each_socket_hears_exactly_what_the_replay_returns_for_its_user(
    sockets, operator, supervisor, dpkp_staff, psc_staff, bpbd_staff
):
    """The live audience and the replay endpoint come from the same visibility rule: for each
    user, the envelopes a socket received after its hello are the ones
    `GET /api/v1/events/?after=<hello seq>` returns, in the same order."""
    first = await database_sync_to_async(incoming_call)()
    second = await database_sync_to_async(incoming_call)()
    users = [operator, supervisor, dpkp_staff, psc_staff, bpbd_staff]
    connected = [await connect_as(sockets, user) for user in users]

    await busy_afternoon(operator, dpkp_staff, psc_staff, first.incident_id, second.incident_id)

    counts = {}
    for user, (communicator, hello) in zip(users, connected, strict=True):
        expected = await replay(user, hello["seq"])
        received = await receive(communicator, len(expected))
        assert received == expected, user.username
        counts[user.username] = len(received)
    every = len(await envelopes_after(connected[0][1]["seq"]))
    assert counts["op"] == counts["sup"] == every
    assert every > counts["psc_staff"] > counts["dpkp_staff"] > 0  # PSC119 has two incidents
    assert counts["bpbd_staff"] == 0


@database_sync_to_async
def get_raw(user, path, params):
    """The items of a GET, parsed from the bytes the server sent."""
    response = api_as(user).get(path, {**params, "page_size": 500})
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["next"] is None, "the scenario outgrew one page"
    return body["results"]


def canonical(envelope):
    return json.dumps(envelope, sort_keys=True, ensure_ascii=False)


@database_sync_to_async
def located_call_to_acknowledgement(operator, dpkp_staff, psc_staff):
    """The scenario, with an edit that puts decimals and non-ASCII text into the payloads."""
    call = incoming_call()
    incidents.update_incident(
        call.incident_id,
        actor=operator,
        description="Kebakaran gudang — 2 lantai",
        latitude=Decimal("-6.017500"),
        longitude=Decimal("106.054321"),
    )
    dispatch_and_acknowledge(call.incident_id, operator, dpkp_staff, psc_staff)
    return call.incident_id


async def test_a_replayed_event_is_the_live_one_byte_for_byte(
    sockets, operator, dpkp_staff, psc_staff
):
    """One envelope: what the socket sent is, for every seq, exactly what
    `GET /api/v1/events/?after=` returns (key order aside), and the incident's timeline carries
    the same envelope, its `type` being the timeline type (CONTRACT §5)."""
    communicator, hello = await connect_as(sockets, operator)

    incident_id = await located_call_to_acknowledgement(operator, dpkp_staff, psc_staff)

    replayed = await get_raw(operator, "/api/v1/events/", {"after": hello["seq"]})
    live = [json.loads(await communicator.receive_from(timeout=ARRIVES_WITHIN)) for _ in replayed]
    assert await communicator.receive_nothing(timeout=SILENCE)
    assert [canonical(envelope) for envelope in live] == [canonical(e) for e in replayed]
    assert {e["event"] for e in live} >= {
        "incident.updated",
        "call.created",
        "assignment.acknowledged",
    }
    assert any(e["actor"] == "op" for e in live) and any(e["actor"] is None for e in live)

    timeline = await get_raw(operator, f"/api/v1/incidents/{incident_id}/events/", {})
    assert [item["seq"] for item in timeline] == [e["seq"] for e in live]
    for item, envelope in zip(timeline, live, strict=True):
        assert item["type"] == envelope["event"]
        assert canonical({**item, "type": envelope["type"]}) == canonical(envelope)


async def test_replay_also_shows_an_incidents_history_from_before_the_agency_held_it(
    sockets, operator, dpkp_staff, psc_staff
):
    """The one way the two differ, pinned so that it stays a decision: the replay applies the
    visibility rule when asked, so once DPKP holds an incident it lists that incident's
    earlier `incident.*` events too; live, those went out before DPKP held it, to nobody at
    DPKP. (Harmless for a console: it fetched the incident itself when the dispatch came.)"""
    dpkp, hello = await connect_as(sockets, dpkp_staff)

    await call_to_acknowledgement(operator, dpkp_staff, psc_staff)

    received = await receive(dpkp, len(DPKP_HEARS))
    replayed = await replay(dpkp_staff, hello["seq"])
    assert [summary(envelope) for envelope in replayed] == [("incident.created", None)] + DPKP_HEARS
    assert replayed[1:] == received


async def test_a_quiet_dashboard_stays_connected_and_hearing(sockets, layer, operator):
    """Between events the layer waits in a blocking Redis pop of `brpop_timeout` seconds. With
    redis-py 8's default 5-second read timeout that wait timed out and killed the consumer
    (django/channels_redis#422): a quiet command centre lost a socket every 5 seconds."""
    communicator, _ = await connect_as(sockets, operator)

    assert await communicator.receive_nothing(timeout=layer.brpop_timeout + 2)

    await database_sync_to_async(incoming_call)()
    received = await receive(communicator, 2)
    assert [envelope["event"] for envelope in received] == ["incident.created", "call.created"]


# --- reconnecting --------------------------------------------------------------------------


async def test_events_missed_while_disconnected_come_back_from_the_replay(
    sockets, operator, dpkp_staff, psc_staff
):
    call = await database_sync_to_async(incoming_call)()
    centre, _ = await connect_as(sockets, operator)
    dpkp, _ = await connect_as(sockets, dpkp_staff)

    @database_sync_to_async
    def dispatch_to_dpkp():
        return incidents.dispatch(call.incident_id, actor=operator, agencies=[agency("DPKP")])[0]

    assignment = await dispatch_to_dpkp()
    [*_, centre_last] = await receive(centre, 2)  # incident.dispatched, assignment.created
    [*_, dpkp_last] = await receive(dpkp, 2)
    await centre.disconnect()
    await dpkp.disconnect()

    @database_sync_to_async
    def while_they_are_away():
        incidents.acknowledge(assignment.id, actor=dpkp_staff)
        incidents.report_progress(assignment.id, actor=dpkp_staff, status="on_scene")
        incidents.dispatch(call.incident_id, actor=operator, agencies=[agency("PSC119")])
        incoming_call()

    await while_they_are_away()
    missed = await envelopes_after(centre_last["seq"])
    assert len(missed) > 6

    # The command centre's replay is everything since its last seq.
    assert await replay(operator, centre_last["seq"]) == missed
    # DPKP's is what DPKP may see of it: not PSC119's assignment, not the other call.
    dpkp_missed = await replay(dpkp_staff, dpkp_last["seq"])
    assert [summary(envelope) for envelope in dpkp_missed] == [
        ("assignment.acknowledged", "DPKP"),
        ("incident.in_progress", None),
        ("assignment.on_scene", "DPKP"),
        ("incident.dispatched", None),
    ]

    # Reconnecting does not push what was missed: the hello names the point to replay up to.
    again, hello = await connect_as(sockets, dpkp_staff)
    assert hello["seq"] == missed[-1]["seq"] == await latest_seq()
    assert await again.receive_nothing(timeout=SILENCE)


# --- heartbeat -----------------------------------------------------------------------------


async def test_the_heartbeat_carries_the_latest_seq_and_keeps_the_socket_hearing(
    sockets, layer, monkeypatch, operator, dpkp_staff
):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.05)
    # Group memberships expire after `group_expiry` seconds (a day in settings; one here). Only
    # the beat's re-join keeps a long-lived socket in its groups.
    layer.group_expiry = 1
    communicator, hello = await connect_as(sockets, dpkp_staff)

    beat = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)
    assert beat == {"type": "heartbeat", "seq": hello["seq"]}

    # An event DPKP does not hear still moves the heartbeat's seq: the seq is global.
    call = await database_sync_to_async(incoming_call)()
    latest = await latest_seq()
    for _ in range(200):
        message = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)
        assert message["type"] == "heartbeat", message
        if message["seq"] == latest:
            break
    else:
        pytest.fail(f"no heartbeat carried seq {latest}")

    # Well past the group expiry, the socket still hears its events between beats.
    await asyncio.sleep(layer.group_expiry + 1.5)

    @database_sync_to_async
    def dispatch_to_dpkp():
        incidents.dispatch(call.incident_id, actor=operator, agencies=[agency("DPKP")])

    await dispatch_to_dpkp()
    heard = []
    for _ in range(1000):
        message = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)
        if message["type"] != "heartbeat":
            heard.append(summary(message))
        if len(heard) == 2:
            break
    assert heard == [("incident.dispatched", None), ("assignment.created", "DPKP")]


async def test_a_failed_heartbeat_does_not_stop_the_next(sockets, monkeypatch, caplog, operator):
    """A database or Redis hiccup in one beat is logged, and the beats (and their re-joins)
    go on; before, the beat task died with it and the socket went deaf a day later."""
    real_latest_seq = consumers.latest_seq
    calls = []

    async def flaky_latest_seq():
        calls.append(None)
        if len(calls) == 2:  # the hello's is the first; the first beat's fails
            raise RuntimeError("the database went away for a moment")
        return await real_latest_seq()

    monkeypatch.setattr(consumers, "latest_seq", flaky_latest_seq)
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.05)
    communicator, hello = await connect_as(sockets, operator)

    beat = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)

    assert beat == {"type": "heartbeat", "seq": hello["seq"]}
    assert len(calls) >= 3
    assert "dashboard heartbeat failed" in caplog.text


async def test_dashboards_closing_together_all_leave_their_group(sockets, layer, operator):
    """More sockets than the Redis pool has connections (100) close at the same moment, as when
    a proxy restarts: every one leaves the process's hub, and the process leaves the
    command-centre group, nothing left behind for the group's day-long expiry."""
    header = await database_sync_to_async(token_header)(operator)
    group_key = layer._group_key(events.COMMAND_CENTRE_GROUP)
    communicators = []
    for _ in range(150):
        communicator = await sockets(ORIGIN, header)
        assert (await communicator.receive_json_from(timeout=ARRIVES_WITHIN))["type"] == "hello"
        communicators.append(communicator)
    assert len(hub().registered()) == 150
    assert await layer.connection(0).zcard(group_key) == 1  # the process, not each socket

    results = await asyncio.gather(
        *(communicator.disconnect() for communicator in communicators), return_exceptions=True
    )

    assert [r for r in results if r is not None] == []
    assert hub().registered() == set() and hub().groups == {}
    assert await layer.connection(0).zcard(group_key) == 0
