"""The process's side of the dashboard fan-out (`dispatch.hub`): one layer channel per process,
joined to its sockets' groups, handing each group's message to that group's sockets in memory;
and the process's one heartbeat. What is pinned: one Redis message per process and group, not
per socket; a group's message reaches only that group's sockets; a socket that fails or closes
mid-fan-out does not hold up the others; sockets leaving leave nothing registered; a restarted
Redis is re-joined without help; a beat checks each credential once for all sockets."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator

from dispatch import consumers, events
from dispatch import hub as hub_module
from dispatch.hub import hub
from tests.dispatch.sockets import (
    ARRIVES_WITHIN,
    ORIGIN,
    PATH,
    SILENCE,
    connect_as,
    incoming_call,
    receive,
    session_cookie,
    token_header,
)
from tests.own_redis import OwnRedis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_heartbeat")]


def an_event(seq):
    return {"type": "dashboard.events", "events": [{"type": "incident.updated", "seq": seq}]}


async def several(sockets, user, count):
    return [(await connect_as(sockets, user))[0] for _ in range(count)]


def counting_deliveries(monkeypatch):
    """The messages the hub takes off the layer, as they come."""
    delivered = []
    real_deliver = hub().deliver

    def deliver(message):
        delivered.append(message)
        real_deliver(message)

    monkeypatch.setattr(hub(), "deliver", deliver)
    return delivered


async def send_to_groups(groups, message):
    """As the process's publisher sends: through `events.sender`, on the sender's own loop."""
    await asyncio.to_thread(events.sender.send, dict.fromkeys(groups, message))


async def test_one_layer_message_per_process_and_group_not_per_socket(
    sockets, layer, monkeypatch, operator
):
    communicators = await several(sockets, operator, 20)
    delivered = counting_deliveries(monkeypatch)
    centre = layer._group_key(events.COMMAND_CENTRE_GROUP)

    await database_sync_to_async(incoming_call)()  # incident.created, call.created

    for communicator in communicators:
        assert [e["event"] for e in await receive(communicator, 2)] == [
            "incident.created",
            "call.created",
        ]
    # One message for the group, with both events of the call's commit in seq order.
    assert [(m["group"], [e["event"] for e in m["events"]]) for m in delivered] == [
        (events.COMMAND_CENTRE_GROUP, ["incident.created", "call.created"]),
    ]
    assert await layer.connection(0).zcard(centre) == 1  # the process's channel, once


async def test_a_groups_message_reaches_only_that_groups_sockets(
    sockets, operator, dpkp_staff, psc_staff
):
    dpkp, _ = await connect_as(sockets, dpkp_staff)
    psc, _ = await connect_as(sockets, psc_staff)
    centre, _ = await connect_as(sockets, operator)
    dpkp_group = events.agency_group(dpkp_staff.agency_id)

    await send_to_groups([dpkp_group], an_event(1))
    # A copy that names no group (a publisher from before the hub) reaches no socket at all.
    await get_channel_layer().group_send(dpkp_group, an_event(2))
    await send_to_groups([events.COMMAND_CENTRE_GROUP], an_event(3))

    assert [e["seq"] for e in await receive(dpkp, 1)] == [1]
    assert [e["seq"] for e in await receive(centre, 1)] == [3]
    assert await psc.receive_nothing(timeout=SILENCE)


async def test_an_event_for_two_agencies_reaches_each_once(sockets, dpkp_staff, psc_staff):
    """Two groups, two copies on the layer; each socket is in one of them and hears it once."""
    dpkp = await several(sockets, dpkp_staff, 3)
    psc = await several(sockets, psc_staff, 3)
    groups = [events.agency_group(user.agency_id) for user in (dpkp_staff, psc_staff)]

    await send_to_groups(groups, an_event(7))

    for communicator in dpkp + psc:
        assert [e["seq"] for e in await receive(communicator, 1)] == [7]


async def test_a_socket_failing_or_closing_mid_fan_out_does_not_hold_up_the_others(
    sockets, operator
):
    failing_socket, _ = await connect_as(sockets, operator)
    [failing] = hub().registered()

    async def gone(message):
        raise OSError("the client went away")

    failing.base_send = gone
    others = await several(sockets, operator, 11)
    closing = others.pop(5)

    await asyncio.gather(
        closing.disconnect(), send_to_groups([events.COMMAND_CENTRE_GROUP], an_event(1))
    )
    await send_to_groups([events.COMMAND_CENTRE_GROUP], an_event(2))

    for communicator in others:
        assert [e["seq"] for e in await receive(communicator, 2)] == [1, 2]
    assert await failing_socket.receive_nothing(timeout=SILENCE)
    assert len(hub().registered()) == 11


async def test_the_last_socket_of_a_group_takes_the_process_out_of_it(
    sockets, layer, operator, dpkp_staff
):
    centre, _ = await connect_as(sockets, operator)
    dpkp, _ = await connect_as(sockets, dpkp_staff)
    dpkp_key = layer._group_key(events.agency_group(dpkp_staff.agency_id))
    assert await layer.connection(0).zcard(dpkp_key) == 1

    await dpkp.disconnect()

    assert await layer.connection(0).zcard(dpkp_key) == 0
    assert set(hub().groups) == {events.COMMAND_CENTRE_GROUP, f"dashboard.user.{operator.pk}"}
    await centre.disconnect()
    assert hub().groups == {} and hub().tasks == []


async def test_one_heartbeat_checks_each_credential_once_for_all_sockets(
    sockets, monkeypatch, operator, supervisor
):
    checked = []
    real_signed_in_users = consumers.signed_in_users

    async def counting(sign_ins):
        checked.append(sorted(kind for kind, _key in sign_ins))
        return await real_signed_in_users(sign_ins)

    monkeypatch.setattr(consumers, "signed_in_users", counting)
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
    by_token = await several(sockets, operator, 5)  # one token, five sockets
    by_session, _ = await connect_as(sockets, supervisor, auth=session_cookie)

    for communicator in [*by_token, by_session]:
        beat = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)
        assert beat["type"] == "heartbeat"
    # Once every socket is open, a beat checks the two credentials, not six sockets.
    assert checked[-1] == ["session", "token"]
    assert all(len(credentials) <= 2 for credentials in checked)


@pytest.fixture
async def own_redis_layer(settings):
    """The production layer settings on a redis-server of this test's own, to restart."""
    server = OwnRedis().start()
    production = settings.CHANNEL_LAYERS["default"]
    hosts = [dict(production["CONFIG"]["hosts"][0], address=server.url)]
    config = dict(production["CONFIG"], hosts=hosts, prefix=f"test-ws-{uuid.uuid4().hex[:12]}")
    settings.CHANNEL_LAYERS = {"default": dict(production, CONFIG=config)}
    channel_layers.backends.clear()
    yield server
    channel_layers.backends.clear()
    server.stop()


async def test_a_restarted_redis_is_joined_again_without_help(
    own_redis_layer, monkeypatch, operator
):
    """Redis restarts empty (no persistence): it has forgotten the process's groups. The hub
    notices (a failed receive, or its periodic re-join) and the socket hears again."""
    from config.asgi import application as asgi_application

    monkeypatch.setattr(hub_module, "REJOIN_SECONDS", 0.2)
    monkeypatch.setattr(hub_module, "RETRY_SECONDS", 0.05)
    header = await database_sync_to_async(token_header)(operator)
    communicator = WebsocketCommunicator(asgi_application, PATH, headers=[ORIGIN, header])
    assert (await communicator.connect(timeout=ARRIVES_WITHIN))[0]
    assert (await communicator.receive_json_from(timeout=ARRIVES_WITHIN))["type"] == "hello"

    own_redis_layer.kill()
    own_redis_layer.start()
    await asyncio.sleep(1)

    await send_to_groups([events.COMMAND_CENTRE_GROUP], an_event(9))
    assert (await communicator.receive_json_from(timeout=ARRIVES_WITHIN))["seq"] == 9
    await communicator.disconnect()
