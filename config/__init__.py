"""The project package: settings, root URLs, the ASGI and Celery applications, middleware and
the operations endpoints. It sits on top of every app; no app imports it.

The Celery app is loaded with Django so that `shared_task`s use its configuration."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
