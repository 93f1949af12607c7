"""WebSocket authentication: the browser's session cookie, or `Authorization: Token <key>` for
integrations (CONTRACT §7)."""

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token


@database_sync_to_async
def user_for_token(key):
    try:
        return Token.objects.select_related("user__agency").get(key=key).user
    except Token.DoesNotExist:
        return AnonymousUser()


def token_from_headers(scope):
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
            return ""  # a malformed header is an unknown credential, not a fallback
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """A token header, when present, decides alone; otherwise the session does."""

    async def __call__(self, scope, receive, send):
        key = token_from_headers(scope)
        if key is not None:
            scope = dict(scope, user=await user_for_token(key) if key else AnonymousUser())
        return await super().__call__(scope, receive, send)


def DashboardAuthStack(inner):  # noqa: N802 (named like Channels' own stacks)
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
