"""API tokens (CONTRACT §5): one per user, valid for `API_TOKEN_DAYS` after it was issued,
deleted when its user's password changes or the user revokes it. The API and the dashboard
socket both accept a token through `user_for_token`'s rule."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def oldest_valid_issue_time():
    return timezone.now() - timedelta(days=settings.API_TOKEN_DAYS)


def is_expired(token):
    return token.created < oldest_valid_issue_time()


def user_for_token(key):
    """The active user whose unexpired token this is, or None."""
    token = Token.objects.select_related("user__agency").filter(key=key).first()
    if token is None or is_expired(token) or not token.user.is_active:
        return None
    return token.user


def current_token(user):
    """The user's token, a new one if there was none or it had expired. An expired token is
    deleted first, so the same call never hands it back."""
    Token.objects.filter(user=user, created__lt=oldest_valid_issue_time()).delete()
    token, _created = Token.objects.get_or_create(user=user)
    return token


def revoke_tokens(user):
    Token.objects.filter(user=user).delete()


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (401) a token past its lifetime."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            raise AuthenticationFailed(_("Token has expired."))
        return user, token
