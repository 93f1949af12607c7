"""ASGI entry point: HTTP through Django, `/ws/dashboard/` through Channels (CONTRACT §7)."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # before importing anything that touches models

from config.request_threads import DjangoHTTP, RequestThreads  # noqa: E402

# More than the database pool's connections (DB_POOL_MAX, 20 by default): threads beyond those
# would only wait for one.
django_asgi_app = DjangoHTTP(RequestThreads(keep_idle=32))

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from config.fastlane import VoiceFastLane  # noqa: E402
from dispatch.consumers import DashboardConsumer  # noqa: E402
from dispatch.ws_auth import DashboardAuthStack, SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": VoiceFastLane(django_asgi_app),
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
    What the start-up loaded is left out of every collection (`freeze`) and the older
    generations are collected rarely. The young one every 10,000 allocations: each HTTP request
    leaves about 140 objects in reference cycles (Django's request with its session and
    messages, the cancelled disconnect listener), and at 100,000 a young collection paused the
    loop 50–120 ms, the voice webhook's p99 at 100 calls/s; at 10,000 it takes 5–10 ms, and
    the fan-out's p99 is unchanged (bench/RESULTS.md)."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


steady_garbage_collection()
