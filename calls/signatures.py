"""Twilio request signatures (X-Twilio-Signature), checked with the SDK's RequestValidator."""

from django.conf import settings
from twilio.request_validator import RequestValidator


def signed_url(request):
    """The URL Twilio signed. Behind a TLS proxy the request's own URL is not it, so it is
    rebuilt from PUBLIC_BASE_URL when that is set."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + request.get_full_path()
    return request.build_absolute_uri()


def is_signed_by_twilio(request):
    """Fail closed: no auth token configured means no request is trusted."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    return RequestValidator(token).validate(signed_url(request), request.POST, signature)
