"""WebSocket authentication: the browser's session cookie, or `Authorization: Token <key>` for
integrations (CONTRACT §7), checked at connect and again on every heartbeat; closing a user's
sockets the moment a credential of theirs ends; and the Origin check that keeps other sites'
pages off a signed-in browser's socket."""

import hashlib
import logging
from importlib import import_module
from urllib.parse import urlsplit

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

from accounts.tokens import user_for_token
from dispatch import events

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
TOKEN_CREDENTIAL = "token"


def user_group(user_id):
    """Every dashboard socket also joins its user's group; a `dashboard.revoke` message there
    names the credential that ended (one session, the user's token, or all of them) and the
    sockets that run on it close at once with 4401."""
    return f"dashboard.user.{user_id}"


def session_credential(session_key):
    """Names a session without putting its key into Redis."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def close_sockets(user_id, credential=None):
    """Close the user's sockets that run on `credential` (None: every one). Never raises: the
    credential is already invalid in the database, and the heartbeat re-checks it, so a
    message lost with Redis still closes the socket within a beat."""
    message = {"type": "dashboard.revoke", "credential": credential}
    try:
        events.sender.send({user_group(user_id): message})
    except Exception:
        logger.warning("could not close the sockets of user %s now", user_id, exc_info=True)


def header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def token_from_headers(scope):
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, key = value.partition(" ")
    if scheme.lower() == "token" and key.strip():
        return key.strip()
    return ""  # a malformed header is an unknown credential, not a fallback


@database_sync_to_async
def token_user(key):
    return user_for_token(key) or AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """A token header, when present, decides alone; otherwise the session does. The key stays
    in the scope (`auth_token`) so the heartbeat can check it again."""

    async def __call__(self, scope, receive, send):
        key = token_from_headers(scope)
        if key is not None:
            user = await token_user(key) if key else AnonymousUser()
            scope = dict(scope, user=user, auth_token=key)
        return await super().__call__(scope, receive, send)


class SessionReader:
    """The browser's session in the scope, for AuthMiddleware and the heartbeat to read. A
    socket never changes its session, so unlike Channels' SessionMiddleware this does not wrap
    `send` to save one: that wrapper looked into the session on every frame sent, 9 % of the
    server's time per event with 2,000 sockets (bench/RESULTS.md)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        store = import_module(settings.SESSION_ENGINE).SessionStore
        session = store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        return await self.inner(dict(scope, session=session), receive, send)


def DashboardAuthStack(inner):  # noqa: N802 (named like Channels' own stacks)
    """Channels' AuthMiddlewareStack with the session read, not wrapped (SessionReader)."""
    return CookieMiddleware(SessionReader(AuthMiddleware(TokenAuthMiddleware(inner))))


def credential_of(scope):
    """What the socket runs on, as `close_sockets` names it."""
    if scope.get("auth_token") is not None:
        return TOKEN_CREDENTIAL
    session = scope.get("session")
    session_key = session.session_key if session is not None else None
    return session_credential(session_key) if session_key else None


def session_user(session_key):
    """The user a session signs in now, as Django's own request handling would decide (the
    session still exists, its password hash still matches, the user is active), or None."""
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(request)
    return user if user.is_authenticated else None


def sign_in_of(scope):
    """What signs the socket in, for the heartbeat to check again: ("token", key) or
    ("session", key); None without either."""
    key = scope.get("auth_token")
    if key is not None:
        return ("token", key)
    session = scope.get("session")
    return ("session", session.session_key) if session and session.session_key else None


def signed_in_user_id(sign_in):
    """The id of the active user `sign_in` signs in now, or None."""
    if sign_in is None:
        return None
    kind, key = sign_in
    if kind == "token":
        return active_user_id(user_for_token(key) if key else None)
    return active_user_id(session_user(key))


def active_user_id(user):
    return user.pk if user is not None and user.is_active else None


@database_sync_to_async
def signed_in_users(sign_ins):
    """{sign-in: the id of the active user it signs in now, or None}, in one trip to the
    database thread for all of a process's sockets; a credential many sockets share (one
    integration's token) is checked once."""
    return {sign_in: signed_in_user_id(sign_in) for sign_in in sign_ins}


def request_origin(scope):
    """(scheme, port) the socket was opened on, as a page's Origin states them: uvicorn sets
    the scheme from the trusted proxy's X-Forwarded-Proto, the port comes from the Host header
    (the scheme's default without one)."""
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    _domain, port = split_domain_port(header(scope, b"host") or "")
    return scheme, int(port) if port else DEFAULT_PORTS[scheme]


def parse_origin(value):
    """(scheme, host, port) of an Origin value, or None if it is not an http(s) origin."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin, scope):
    """Exactly the site's own origins: PUBLIC_BASE_URL's, and an allowed host on the scheme and
    port this socket was opened on. Another scheme or port of an allowed host is another
    origin (another server, or a page served over plain HTTP) and is refused."""
    parsed = parse_origin(origin) if origin else None
    if parsed is None:
        return False
    if settings.PUBLIC_BASE_URL and parsed == parse_origin(settings.PUBLIC_BASE_URL):
        return True
    scheme, host, port = parsed
    return (scheme, port) == request_origin(scope) and validate_host(host, settings.ALLOWED_HOSTS)


class SameOriginValidator:
    """Refuses the handshake (403) of a socket whose Origin is not the site's own."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(header(scope, b"origin"), scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
