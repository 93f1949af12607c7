"""Receivers: a user's dashboard sockets close when their credentials end (CONTRACT §7), and a
queued notification goes to a Celery worker. Connected in DispatchConfig.ready()."""

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver

from accounts.signals import credentials_ended
from dispatch import notifications, tasks
from dispatch.ws_auth import close_sockets, session_credential


@receiver(credentials_ended)
def close_all_the_users_sockets(sender, user_id, **kwargs):
    # After the commit: a socket's own re-check must already find the credential gone.
    transaction.on_commit(lambda: close_sockets(user_id))


@receiver(user_logged_out)
def close_the_sessions_sockets(sender, request, user, **kwargs):
    # Sent before the session is flushed: its key still names it.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        close_sockets(user.pk, session_credential(session_key))


@receiver(notifications.queued)
def send_to_a_worker(sender, notification_id, **kwargs):
    tasks.send_notification.delay(notification_id)
