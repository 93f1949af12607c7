"""The `Procfile`'s entry point (CONTRACT §1: `dispatch.asgi:application`); the application
itself is built in the project package."""

from config.asgi import application

__all__ = ("application",)
