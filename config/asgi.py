"""ASGI entry point: HTTP through Django, `/ws/dashboard/` through Channels (CONTRACT §7)."""

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
