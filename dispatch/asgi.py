"""ASGI entry point: HTTP through Django; the dashboard WebSocket joins in the live-console
work (CONTRACT §7)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dispatch.settings")

application = get_asgi_application()
