"""Credentials that end take their tokens and sockets with them (CONTRACT §5, §7)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.sockets import close_sockets, session_credential
from accounts.tokens import revoke_tokens


@receiver(post_save, sender=get_user_model())
def revoke_after_password_change_or_deactivation(sender, instance, created, raw=False, **kwargs):
    # `_password` holds the new raw password from set_password() until the save completes;
    # a hash upgrade at sign-in clears it first, so only a real change counts.
    password_changed = instance._password is not None
    if raw or created or not (password_changed or not instance.is_active):
        return
    revoke_tokens(instance)
    user_id = instance.pk
    transaction.on_commit(lambda: close_sockets(user_id))


@receiver(user_logged_out)
def close_the_sessions_sockets(sender, request, user, **kwargs):
    # Sent before the session is flushed: its key still names it.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        close_sockets(user.pk, session_credential(session_key))
