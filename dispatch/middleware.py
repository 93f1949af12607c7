from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse


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


# The consoles run no inline script and load nothing from elsewhere, so a strict policy holds.
# The Swagger UI page loads its assets from a CDN and is left out.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
CSP_EXEMPT_PREFIXES = ("/api/docs/",)


class ContentSecurityPolicy:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(CSP_EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
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
