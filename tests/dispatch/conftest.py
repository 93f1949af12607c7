"""Fixtures of the dashboard socket tests (test_consumers, test_hub, test_auth_sockets): the
real Redis channel layer under a prefix of the test's own, the ASGI application, connected
sockets, and no heartbeat among the events (those modules use it for every test)."""

import uuid

import pytest
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator

from dispatch import consumers
from tests.dispatch.sockets import ARRIVES_WITHIN, PATH


@pytest.fixture
async def layer(settings):
    """The production layer (its Redis connection options too), under a prefix of this test's
    own so nothing else on the same Redis (a parallel suite, a running `make run`) can reach our
    groups. A fresh layer per test, too: channels-redis binds its receive buffers to the event
    loop that first used them, and each test has its own loop."""
    production = settings.CHANNEL_LAYERS["default"]
    config = dict(production["CONFIG"], prefix=f"test-ws-{uuid.uuid4().hex[:12]}")
    settings.CHANNEL_LAYERS = {"default": dict(production, CONFIG=config)}
    channel_layers.backends.clear()
    layer = get_channel_layer()
    yield layer
    await layer.flush()
    channel_layers.backends.clear()


@pytest.fixture
def application(layer):
    # Imported here, not at the top: the origin check copies ALLOWED_HOSTS when config.asgi is
    # first imported, and only after collection has pytest-django added "testserver" to it.
    from config.asgi import application

    return application


@pytest.fixture
def no_heartbeat(monkeypatch):
    """No heartbeat among the events unless a test asks for one."""
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 3600)


@pytest.fixture
async def sockets(application):
    """`await sockets(*headers)` → a connected (or refused) communicator; all disconnected
    after the test."""
    opened = []

    async def open_socket(*headers):
        communicator = WebsocketCommunicator(application, PATH, headers=list(headers))
        communicator.connected, communicator.close_code = await communicator.connect(
            timeout=ARRIVES_WITHIN
        )
        opened.append(communicator)
        return communicator

    yield open_socket
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
