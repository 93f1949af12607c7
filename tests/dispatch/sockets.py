"""The dashboard socket tests' helpers (test_consumers, test_hub, test_auth_sockets); their
fixtures (`layer`, `application`, `sockets`) are in this folder's conftest."""

import uuid

from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.authtoken.models import Token

from calls import intake
from dispatch import events

# How long to wait for a message that should come, and for one that should not. A message
# published after commit is already in Redis when the test looks, so SILENCE only bounds a miss.
ARRIVES_WITHIN = 5
SILENCE = 0.5

ORIGIN = (b"origin", b"http://testserver")
PATH = "/ws/dashboard/"


def token_header(user):
    token, _ = Token.objects.get_or_create(user=user)
    return (b"authorization", f"Token {token.key}".encode())


def session_cookie(user):
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


async def connect_as(sockets, user, *, auth=token_header):
    """A socket logged in as `user` (by token unless `auth` says otherwise), past its hello.
    Returns the communicator and the hello."""
    credential = await database_sync_to_async(auth)(user)
    communicator = await sockets(ORIGIN, credential)
    assert communicator.connected
    hello = await communicator.receive_json_from(timeout=ARRIVES_WITHIN)
    assert hello["type"] == "hello", hello
    return communicator, hello


async def receive(communicator, count):
    """The next `count` messages; fails if fewer arrive, or if one more follows."""
    messages = [await communicator.receive_json_from(timeout=ARRIVES_WITHIN) for _ in range(count)]
    assert await communicator.receive_nothing(timeout=SILENCE), "one message too many"
    return messages


def incoming_call(sid=None):
    """Twilio's voice webhook, as `calls.views` hands it to intake: opens a call and an incident
    (`incident.created`, then `call.created`), both published when it returns (the publisher
    sends from its own thread: a socket opened next must not hear them)."""
    call, created = intake.receive_call(
        {"CallSid": sid or f"CA{uuid.uuid4().hex}", "From": "081234567890", "To": "112"}
    )
    assert created
    assert events.publisher.flush()
    return call
