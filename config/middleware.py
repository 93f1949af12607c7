import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers

from telephony.softphone import softphone_configured


class RefuseOversizedBodies:
    """DRF's parsers read the raw stream, around Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    Reading `request.body` here applies the limit to every request, up front."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                request.body  # noqa: B018 (reading enforces the size limit)
            except RequestDataTooBig:
                return JsonResponse({"detail": "Request body too large."}, status=413)
        return self.get_response(request)


class ApiNeverCached:
    """API answers carry callers' numbers, names and whereabouts: no browser or proxy may keep
    a copy (`Cache-Control: no-store`). Every answer under /api/, errors included, so no view
    can forget it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
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


class ContentSecurityPolicy:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(CSP_EXEMPT_PREFIXES):
            # Settings are read per request (override_settings in tests applies); the policy
            # string itself is built once per process.
            policy = content_security_policy(
                softphone_configured(), map_tile_source(settings.MAP_TILE_URL)
            )
            response.headers.setdefault("Content-Security-Policy", policy)
        return response


class ConsoleLanguageFirst:
    """The consoles speak Bahasa Indonesia unless a user picks English (cookie or session):
    a command-centre workstation with an English browser must not switch languages on its
    own. Django's LocaleMiddleware would follow the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
