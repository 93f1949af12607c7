"""Credentials that end take their tokens with them (CONTRACT §5), and say so: the dashboard
sockets (dispatch, above this app) close on `credentials_ended` and on Django's own
`user_logged_out`."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

from accounts.tokens import revoke_tokens

# Every credential of the user ended (password changed, or deactivated). Sent with `user_id`,
# inside the saving transaction.
credentials_ended = Signal()


@receiver(post_save, sender=get_user_model())
def revoke_after_password_change_or_deactivation(sender, instance, created, raw=False, **kwargs):
    # `_password` holds the new raw password from set_password() until the save completes;
    # a hash upgrade at sign-in clears it first, so only a real change counts.
    password_changed = instance._password is not None
    if raw or created or not (password_changed or not instance.is_active):
        return
    revoke_tokens(instance)
    credentials_ended.send(sender=sender, user_id=instance.pk)
