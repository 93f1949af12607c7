"""ASGI entry point: HTTP through Django, `/ws/dashboard/` through Channels (CONTRACT §7)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from dispatch.consumers import DashboardConsumer  # noqa: E402
from dispatch.ws_auth import DashboardAuthStack, SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            DashboardAuthStack(URLRouter([path("ws/dashboard/", DashboardConsumer.as_asgi())]))
        ),
    }
)


def steady_garbage_collection():
    """A web process holds every dashboard socket it serves, and an event fanned out to 2,000
    of them allocates tens of thousands of short-lived objects: with Python's default
    thresholds (a collection every 700 allocations) they are promoted and a full collection
    over every socket's objects comes every few events, pausing the event loop 250–500 ms
    (bench/fanout.py: the last socket's p99 363–620 ms with, 154 ms without the collector).
    Collecting young objects every 100,000 allocations and leaving what the start-up loaded
    out of every collection (`freeze`) keeps the collector and its cycles, without the pauses:
    p99 117–161 ms."""
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)


steady_garbage_collection()
