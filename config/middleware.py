"""The project's middleware, and the whole chain kept on the event loop under ASGI.

Under ASGI Django runs a middleware in a thread when it is sync-only (and the rest of the chain
below it back on the loop), and Django's own `MiddlewareMixin` middleware, although
"async-capable", hands each of their `process_request`/`process_response` to a thread
(`sync_to_async`) one by one: with this project's chain, 15 hand-offs to a thread (and one
back to the loop) for a GET of /healthz/, against 3 with no middleware at all (the request
signals and the view); thread hand-offs were the largest share of a voice webhook's CPU.
Everything here runs on the loop instead (Django's own changed in place, below), so a request
crosses to a thread only for its (sync) view, and for the rare step that does blocking I/O: a
session or messages to save, a static file to open. Sync mode (the test client, management
commands) is Django's own, unchanged. tests/test_middleware_modes.py keeps every entry of
MIDDLEWARE this way.
"""

import functools
from types import MethodType
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import add_never_cache_headers
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from telephony.softphone import softphone_configured


class OnTheLoop(MiddlewareMixin):
    """A `MiddlewareMixin` whose `process_request`/`process_response` do no blocking I/O (no
    database, no file, no network: headers, cookies, the request already read into memory by
    the ASGI handler), so in async mode they run on the event loop, not in a thread each."""

    async def __acall__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class RefuseOversizedBodies(OnTheLoop):
    """DRF's parsers read the raw stream, around Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    Reading `request.body` here applies the limit to every request, up front. (Under ASGI the
    body is already in memory, or spooled to a temporary file beyond
    FILE_UPLOAD_MAX_MEMORY_SIZE, so reading it is no network wait.)"""

    def process_request(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                request.body  # noqa: B018 (reading enforces the size limit)
            except RequestDataTooBig:
                return JsonResponse({"detail": "Request body too large."}, status=413)
        return None


class ApiNeverCached(OnTheLoop):
    """API answers carry callers' numbers, names and whereabouts: no browser or proxy may keep
    a copy (`Cache-Control: no-store`). Every answer under /api/, errors included, so no view
    can forget it."""

    def process_response(self, request, response):
        if request.path.startswith("/api/"):
            add_never_cache_headers(response)
        return response


# The consoles run no inline script and load nothing from elsewhere, so a strict policy holds.
# The Swagger UI page (/api/docs/) is left out: its assets are served from here
# (drf-spectacular-sidecar), but drf-spectacular's template starts it with an inline script.
# Not django-csp: its header lists the directives in a different order in each process (it
# walks a set), and the Twilio hosts depend on settings that the tests change per test.
STRICT_DIRECTIVES = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)

# What the vendored Twilio Voice JS SDK 2.18.5 (static/vendor/twilio-voice-sdk/) reaches, read
# from its source (its `regions` and `constants` modules). The SDK itself needs no eval, so
# script-src stays 'self'. WebRTC media and TURN are not governed by CSP.
#
# Signalling websocket, wss://voice-js.<edge>.twilio.com/signal. It first connects to the
# "roaming" edge, then reconnects to the edge Twilio names in its reply, so every edge in the
# SDK's `Edge` list is allowed. (CSP wildcards only cover a leftmost label, so
# voice-js.*.twilio.com cannot be written.)
TWILIO_EDGES = (
    "roaming",
    "ashburn",
    "dublin",
    "frankfurt",
    "sao-paulo",
    "singapore",
    "sydney",
    "tokyo",
    "umatilla",
    "ashburn-ix",
    "frankfurt-ix",
    "london-ix",
    "san-jose-ix",
    "singapore-ix",
    "sydney-ix",
    "tokyo-ix",
)
# Insights events: HTTPS POSTs to eventgw.twilio.com until registration, then to
# eventgw.<home>.twilio.com for the account's home region (Twilio's regions: us1, ie1, au1).
# Losing them only loses call-quality reporting, never a call.
TWILIO_EVENT_GATEWAYS = (
    "eventgw.twilio.com",
    "eventgw.us1.twilio.com",
    "eventgw.ie1.twilio.com",
    "eventgw.au1.twilio.com",
)
# Ringtones and other call sounds: https://sdk.twilio.com/js/client/sounds/releases/1.0.0/*.mp3,
# fetched with XMLHttpRequest into Web Audio (connect-src), or played by an <audio> element
# where Web Audio is missing (media-src).
TWILIO_SOUNDS = "https://sdk.twilio.com"

SOFTPHONE_SOURCES = {
    "connect-src": (
        *(f"wss://voice-js.{edge}.twilio.com" for edge in TWILIO_EDGES),
        *(f"https://{host}" for host in TWILIO_EVENT_GATEWAYS),
        TWILIO_SOUNDS,
    ),
    "media-src": ("'self'", TWILIO_SOUNDS),
}


def map_tile_source(tile_url):
    """The CSP source of the map's tile server: its scheme and host (with port), nothing
    wider. Leaflet's subdomain placeholder (`https://{s}.tile.example.org/…`) becomes the
    leftmost-label wildcard CSP allows. Empty without a tile server."""
    if not tile_url:
        return ""
    parts = urlsplit(tile_url)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


@functools.cache
def content_security_policy(softphone, tile_source=""):
    """The policy, built once per process for each form it takes. Without the softphone and
    the map's tile server it is the strict one exactly."""
    directives = dict(STRICT_DIRECTIVES)
    extra = dict(SOFTPHONE_SOURCES) if softphone else {}
    if tile_source:
        extra["img-src"] = (tile_source,)
    for name, sources in extra.items():
        directives[name] = " ".join(filter(None, (directives.get(name), *sources)))
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


CONTENT_SECURITY_POLICY = content_security_policy(softphone=False)
CSP_EXEMPT_PREFIXES = ("/api/docs/",)


class ContentSecurityPolicy(OnTheLoop):
    def process_response(self, request, response):
        if not request.path.startswith(CSP_EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", current_policy())
        return response


def current_policy():
    """Settings are read per request (override_settings in tests applies); the policy string
    itself is built once per process."""
    return content_security_policy(softphone_configured(), map_tile_source(settings.MAP_TILE_URL))


class ConsoleLanguageFirst(OnTheLoop):
    """The consoles speak Bahasa Indonesia unless a user picks English (cookie or session):
    a command-centre workstation with an English browser must not switch languages on its
    own. Django's LocaleMiddleware would follow the browser's Accept-Language."""

    def process_request(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)


# Django's own middleware, on the loop. Changed in place, not subclassed: `check --deploy`
# finds SecurityMiddleware, CsrfViewMiddleware and XFrameOptionsMiddleware in MIDDLEWARE by
# their dotted paths, and checks HSTS, the CSRF cookie etc. only when they are there. Only
# their async mode changes (sync mode is not touched), and each does only header, cookie and
# URL work there (read in Django 5.2's source): no database, no file. Applied when this module
# is imported, which loading MIDDLEWARE does before any request (it lists classes from here).
def djangos_middleware_on_the_loop():
    for middleware in (
        SecurityMiddleware,
        LocaleMiddleware,
        CommonMiddleware,
        XFrameOptionsMiddleware,
        # Only puts a lazy `request.user` on the request: the user is read from the database
        # when the (sync) view first looks at it, in the view's thread.
        AuthenticationMiddleware,
        CsrfViewMiddleware,
    ):
        middleware.__acall__ = OnTheLoop.__acall__
    SessionMiddleware.__acall__ = on_the_loop_unless_saving(session_saves)
    MessageMiddleware.__acall__ = on_the_loop_unless_saving(messages_save)
    CsrfViewMiddleware.__init__ = csrf_check_on_the_loop(CsrfViewMiddleware.__init__)


def on_the_loop_unless_saving(saves):
    """An `__acall__` whose steps run on the loop, but for a response step that saves to the
    database (`saves(request)`), which goes to a thread."""

    async def __acall__(self, request):
        self.process_request(request)
        response = await self.get_response(request)
        if saves(request):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)

    return __acall__


def session_saves(request):
    """The session is loaded lazily (in the view's thread, when a view reads it); only saving
    it is database work."""
    return request.session.modified or settings.SESSION_SAVE_EVERY_REQUEST


def messages_save(request):
    """The message storage reads and writes the session (database) only when a message was
    read or added during the request."""
    return request._messages.used or request._messages.added_new


def csrf_check_on_the_loop(djangos_init):
    """The CSRF check (`process_view`: a form field or a header against the cookie; the token
    lives in a cookie, CSRF_USE_SESSIONS is off, asserted by the tests) on the loop too:
    Django's handler awaits a view middleware directly when it is a coroutine function."""

    @functools.wraps(djangos_init)
    def __init__(self, get_response):
        djangos_init(self, get_response)
        if self.async_mode:
            self.process_view = MethodType(check_on_the_loop, self)

    async def check_on_the_loop(self, request, callback, callback_args, callback_kwargs):
        return CsrfViewMiddleware.process_view(
            self, request, callback, callback_args, callback_kwargs
        )

    return __init__


djangos_middleware_on_the_loop()


class StaticFiles(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable: the static file is looked up on the loop (a dict look-up, or
    the finders when autorefresh is on, in development), and only a static file's answer
    (opening the file, its headers) is prepared in a thread. Anything else goes straight on
    down the chain, on the loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings=settings)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        static_file = self.static_file_for(request)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)

    def static_file_for(self, request):
        if self.autorefresh:
            return self.find_file(request.path_info)
        return self.files.get(request.path_info)
