"""The dashboard WebSocket's credentials after connect (CONTRACT §7): a socket closes (4401) as
soon as its user is deactivated, signs out, changes password, or its token is revoked or
expires — at once through the user's group, and at the next heartbeat in any case. Also: a
socket is accepted only once it is in its groups (a Redis that does not answer means a refused
handshake, not a silent socket); the Origin must be exactly the site's; and whatever a client
sends is ignored, JSON or not."""

import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from agencies.models import User
from dispatch import consumers
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


async def assert_closed_unauthorized(communicator):
    """The next thing the socket gets is a close with 4401 (heartbeats aside)."""
    for _ in range(100):
        message = await communicator.receive_output(timeout=ARRIVES_WITHIN)
        if message["type"] == "websocket.close":
            assert message["code"] == consumers.UNAUTHORIZED
            return
        assert '"heartbeat"' in message.get("text", ""), message
    pytest.fail("the socket stayed open")


def signed_in_browser(user):
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client):
    name = django_settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


# --- prompt closing ----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [token_header, session_cookie], ids=["token", "session"])
async def test_deactivating_a_user_closes_their_sockets_at_once(sockets, operator, auth):
    communicator, _ = await connect_as(sockets, operator, auth=auth)

    operator.is_active = False
    await database_sync_to_async(operator.save)()

    await assert_closed_unauthorized(communicator)


async def test_signing_out_closes_that_sessions_sockets_only(sockets, operator):
    here = await database_sync_to_async(signed_in_browser)(operator)
    there = await database_sync_to_async(signed_in_browser)(operator)
    leaving = await sockets(ORIGIN, cookie_of(here))
    staying = await sockets(ORIGIN, cookie_of(there))
    for communicator in (leaving, staying):
        assert (await communicator.receive_json_from(timeout=ARRIVES_WITHIN))["type"] == "hello"

    response = await database_sync_to_async(here.post)("/accounts/logout/")
    assert response.status_code == 302

    await assert_closed_unauthorized(leaving)
    assert await staying.receive_nothing(timeout=SILENCE)
    await database_sync_to_async(incoming_call)()
    assert len(await receive(staying, 2)) == 2


async def test_a_password_change_closes_the_users_sockets(sockets, operator):
    by_token, _ = await connect_as(sockets, operator)
    by_session, _ = await connect_as(sockets, operator, auth=session_cookie)

    @database_sync_to_async
    def change_password():
        operator.set_password("an0ther-Pass-112")
        operator.save()

    await change_password()

    await assert_closed_unauthorized(by_token)
    await assert_closed_unauthorized(by_session)


async def test_revoking_the_token_closes_its_sockets_not_the_browsers(sockets, operator):
    by_token, _ = await connect_as(sockets, operator)
    by_session, _ = await connect_as(sockets, operator, auth=session_cookie)

    @database_sync_to_async
    def revoke():
        key = Token.objects.get(user=operator).key
        client = Client(HTTP_AUTHORIZATION=f"Token {key}")
        return client.delete("/api/v1/auth/token/").status_code

    assert await revoke() == 204

    await assert_closed_unauthorized(by_token)
    assert await by_session.receive_nothing(timeout=SILENCE)


# --- the heartbeat's check ---------------------------------------------------------------------


@pytest.fixture
def fast_heartbeat(monkeypatch):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.05)


@pytest.mark.parametrize("auth", [token_header, session_cookie], ids=["token", "session"])
async def test_the_heartbeat_closes_a_socket_whose_user_was_deactivated_silently(
    sockets, fast_heartbeat, operator, auth
):
    """`update()` sends no signal; the heartbeat still notices."""
    communicator, _ = await connect_as(sockets, operator, auth=auth)
    await communicator.receive_json_from(timeout=ARRIVES_WITHIN)  # a beat while all is well

    await database_sync_to_async(User.objects.filter(pk=operator.pk).update)(is_active=False)

    await assert_closed_unauthorized(communicator)


async def test_the_heartbeat_closes_a_socket_whose_session_is_gone(
    sockets, fast_heartbeat, operator
):
    communicator, _ = await connect_as(sockets, operator, auth=session_cookie)

    await database_sync_to_async(lambda: Session.objects.all().delete())()

    await assert_closed_unauthorized(communicator)


async def test_the_heartbeat_closes_a_socket_whose_token_expired(
    sockets, fast_heartbeat, settings, operator
):
    communicator, _ = await connect_as(sockets, operator)

    long_ago = timezone.now() - timedelta(days=settings.API_TOKEN_DAYS + 1)
    await database_sync_to_async(Token.objects.filter(user=operator).update)(created=long_ago)

    await assert_closed_unauthorized(communicator)


async def test_an_expired_token_cannot_connect(sockets, settings, operator):
    header = await database_sync_to_async(token_header)(operator)
    long_ago = timezone.now() - timedelta(days=settings.API_TOKEN_DAYS + 1)
    await database_sync_to_async(Token.objects.filter(user=operator).update)(created=long_ago)

    communicator = await sockets(ORIGIN, header)

    assert communicator.connected
    assert await communicator.receive_output(timeout=ARRIVES_WITHIN) == {
        "type": "websocket.close",
        "code": consumers.UNAUTHORIZED,
    }


# --- what clients send -------------------------------------------------------------------------


async def test_whatever_a_client_sends_is_ignored(sockets, operator):
    communicator, _ = await connect_as(sockets, operator)

    await communicator.send_to(text_data="this is not JSON {")
    await communicator.send_to(text_data='{"type": "subscribe", "group": "everything"}')
    await communicator.send_to(bytes_data=b"\x00\xff binary")

    assert await communicator.receive_nothing(timeout=SILENCE)
    await database_sync_to_async(incoming_call)()
    assert len(await receive(communicator, 2)) == 2


# --- Origin ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"origin", b"https://testserver")], id="other-scheme"),
        pytest.param([(b"origin", b"http://testserver:8080")], id="other-port"),
        pytest.param([(b"origin", b"ws://testserver")], id="not-a-page-scheme"),
        pytest.param([(b"origin", b"null")], id="opaque"),
        pytest.param([(b"origin", b"http://testserver:99999")], id="bad-port"),
        pytest.param(
            [(b"origin", b"http://testserver"), (b"host", b"testserver:8000")],
            id="other-port-than-the-request",
        ),
    ],
)
async def test_another_scheme_or_port_of_an_allowed_host_is_refused(sockets, operator, headers):
    cookie = await database_sync_to_async(session_cookie)(operator)
    communicator = await sockets(*headers, cookie)
    assert not communicator.connected


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([(b"origin", b"http://testserver")], id="default-port"),
        pytest.param(
            [(b"origin", b"http://testserver:8000"), (b"host", b"testserver:8000")],
            id="the-requests-port",
        ),
        pytest.param(
            [(b"origin", b"http://localhost:8000"), (b"host", b"127.0.0.1:8000")],
            id="another-allowed-host-same-port",
        ),
    ],
)
async def test_the_sites_own_origin_is_accepted(sockets, operator, headers):
    cookie = await database_sync_to_async(session_cookie)(operator)
    communicator = await sockets(*headers, cookie)
    assert communicator.connected
    assert (await communicator.receive_json_from(timeout=ARRIVES_WITHIN))["type"] == "hello"


async def test_the_public_base_urls_origin_is_accepted(sockets, settings, operator):
    """Behind the TLS proxy the browser's origin is PUBLIC_BASE_URL's."""
    settings.PUBLIC_BASE_URL = "https://112.example.go.id"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "112.example.go.id"]
    cookie = await database_sync_to_async(session_cookie)(operator)

    accepted = await sockets((b"origin", b"https://112.example.go.id"), cookie)
    refused = await sockets((b"origin", b"https://112.example.go.id:8443"), cookie)

    assert accepted.connected
    assert not refused.connected


# --- accepted only once in the groups (a Redis fault) -----------------------------------------


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, to pause without touching the shared one."""
    server = OwnRedis().start()
    yield server.client
    server.stop()


@pytest.fixture
async def own_layer(settings, own_redis):
    production = settings.CHANNEL_LAYERS["default"]
    url = f"redis://127.0.0.1:{own_redis.connection_pool.connection_kwargs['port']}/0"
    hosts = [dict(production["CONFIG"]["hosts"][0], address=url)]
    config = dict(production["CONFIG"], hosts=hosts, prefix=f"test-ws-{uuid.uuid4().hex[:12]}")
    settings.CHANNEL_LAYERS = {"default": dict(production, CONFIG=config)}
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


async def test_a_socket_is_not_accepted_while_its_groups_cannot_be_joined(
    own_layer, own_redis, monkeypatch, operator
):
    """Redis takes no writes (as just after a restart, or while it hangs): the handshake is
    refused, so the client tries again; once Redis answers, the next socket says hello. Before,
    the socket was accepted first and then waited, silent, for the join."""
    from config.asgi import application as asgi_application

    monkeypatch.setattr(consumers, "JOIN_TIMEOUT_SECONDS", 0.5)
    header = await database_sync_to_async(token_header)(operator)
    own_redis.execute_command("CLIENT", "PAUSE", 3000, "WRITE")

    during = WebsocketCommunicator(asgi_application, PATH, headers=[ORIGIN, header])
    connected, _ = await during.connect(timeout=2)
    assert not connected

    own_redis.execute_command("CLIENT", "UNPAUSE")
    after = WebsocketCommunicator(asgi_application, PATH, headers=[ORIGIN, header])
    connected, _ = await after.connect(timeout=ARRIVES_WITHIN)
    assert connected
    assert (await after.receive_json_from(timeout=ARRIVES_WITHIN))["type"] == "hello"
    await after.disconnect()
    await during.disconnect()
