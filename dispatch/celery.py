"""The `Procfile`'s entry point (CONTRACT §1: `celery -A dispatch`); the Celery app itself is
configured in the project package."""

from config.celery import app

__all__ = ("app",)
