"""The floor for `bench/fanout.py`: a bare Channels app on the project's own channel layer
settings, as the Channels documentation builds a broadcast. Every socket is accepted at once
(no auth, no database), joins one group with a layer channel of its own and says
`{"type": "hello"}`; `POST /trigger` sends its body — an event envelope, JSON made by the bench
— to that group once, and each socket forwards the text it gets unchanged.

Run it with the same uvicorn flags as the Procfile's `web` line, beside the real server (the
environment must hold the settings the real server needs; only CHANNEL_LAYERS is used):

    .venv/bin/uvicorn bench.fanout_floor:application --host 127.0.0.1 --port 8321 \\
        --proxy-headers --forwarded-allow-ips=127.0.0.1 --timeout-graceful-shutdown 10
"""

import django
from django.conf import settings

from config.settings import CHANNEL_LAYERS

GROUP = "floor"
settings.configure(
    CHANNEL_LAYERS={
        "default": dict(
            CHANNEL_LAYERS["default"],
            CONFIG=dict(CHANNEL_LAYERS["default"]["CONFIG"], prefix="fanout-floor"),
        )
    }
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        await self.send(text_data='{"type": "hello"}')

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def floor_event(self, message):
        await self.send(text_data=message["text"])


async def trigger(scope, receive, send):
    """POST /trigger: group_send the body, as text, once. Anything else: 404."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 404
    if scope["method"] == "POST" and scope["path"] == "/trigger":
        await get_channel_layer().group_send(GROUP, {"type": "floor.event", "text": body.decode()})
        status = 204
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


application = ProtocolTypeRouter({"http": trigger, "websocket": FloorConsumer.as_asgi()})
