"""The bare-framework floor for the voice webhook bench: Django and uvicorn with nothing of the
project — minimal settings, no database, no middleware — and one view that checks the Twilio
signature with the SDK's RequestValidator and answers static TwiML. Whatever the project's
webhook costs above this is ours.

    TWILIO_AUTH_TOKEN=benchtoken .venv/bin/uvicorn floor:application --app-dir bench/floor \\
        --host 127.0.0.1 --port 8301 --proxy-headers --forwarded-allow-ips=127.0.0.1

(bench/webhook.py starts it itself unless given --floor-url.)"""

import os

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import path
from twilio.request_validator import RequestValidator

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="id-ID">'
    "Panggilan darurat 112. Mohon tunggu.</Say><Enqueue>112</Enqueue></Response>"
)


def voice(request):
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    signature = request.headers.get("X-Twilio-Signature", "")
    if request.method != "POST" or not validator.validate(
        request.build_absolute_uri(), request.POST, signature
    ):
        return HttpResponseForbidden("invalid signature")
    return HttpResponse(TWIML, content_type="text/xml; charset=utf-8")


urlpatterns = [path("calls/twilio/voice/", voice)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="floor-" + "x" * 50,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()
application = get_asgi_application()
