"""The voice webhook's fast lane: a new 112 call answered on the event loop, before Django's
request handling (bench/RESULTS.md: under a flood of calls, the middleware chain and the hand-off
of every request to a thread and back cost more than recording the call).

It takes only the common case and hands everything else to Django, unchanged, body included:
a signed POST to the voice webhook, for an allowed host, over the scheme the settings ask for,
of a call whose CallSid is new and for whose number no handset position waits. Those are
recorded by `calls.intake.receive_new_voice_call` — the same statements as Django's view, on a
connection of the loop's own — and answered with the same TwiML and headers. A database that
fails gets the same fallback answer as Django's view gives. Refusals (403, 400, 405, 413), a
retried webhook and the rest stay Django's, and so does a call the lane fails on for any
other reason than the database (Django's view, idempotent on the CallSid, then records it)."""

import asyncio
import io
import logging
import time

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import DEFAULT_DB_ALIAS, connections
from django.urls import reverse
from psycopg import OperationalError

from calls import intake, twilio_params, twiml
from calls.metrics import WEBHOOK_SECONDS
from calls.signatures import is_signed_by_twilio
from config.middleware import current_policy

logger = logging.getLogger(__name__)

LATENCY = WEBHOOK_SECONDS.labels(endpoint="voice")

# Twilio waits 15 s for the answer; a database that takes longer than this (a lock held, a
# connection silently cut, a synchronous standby gone) gets the caller the fallback answer.
# psycopg first cancels the query it was waiting for: at once from a live server, and within
# 10 s more from one that does not answer at all — 14 s in the worst case. (A task of its own
# for the intake, answered without waiting for the cancel, cost 0.25 ms of CPU per call.)
ANSWER_WITHIN_SECONDS = 4

# Connection options Django applies itself after connecting, which the lane's pool does not.
OPTIONS_LEFT_TO_DJANGO = ("isolation_level", "assume_role")


class VoiceFastLane:
    """ASGI middleware in front of Django's HTTP application."""

    def __init__(self, django):
        self.django = django
        self.voice_path = None
        self.on_postgresql = None

    async def __call__(self, scope, receive, send):
        if not self.may_take(scope):
            return await self.django(scope, receive, send)
        messages, body = await read_body(receive)
        answer = None if body is None else await answer_new_call(scope, body)
        if answer is None:
            return await self.django(scope, replaying(messages, receive), send)
        await send_twiml(send, *answer)

    def may_take(self, scope):
        if self.voice_path is None:
            self.voice_path = reverse("calls:voice")
            self.on_postgresql = is_plain_postgresql(connections[DEFAULT_DB_ALIAS])
        return (
            self.on_postgresql
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.voice_path
            and not scope.get("root_path")
            and not settings.FORCE_SCRIPT_NAME  # Django's answer's URLs would carry it
        )


def is_plain_postgresql(database):
    options = database.settings_dict["OPTIONS"]
    return database.vendor == "postgresql" and not any(
        options.get(name) for name in OPTIONS_LEFT_TO_DJANGO
    )


async def answer_new_call(scope, body):
    """The TwiML and headers for a new call, or None for Django to answer. Timed for /metrics
    as Django's view is, when answered here."""
    started = time.perf_counter()
    try:
        request, params = signed_call(scope, body)
        headers = response_headers(request)
    except Exception:  # a malformed request: Django answers it as it answers any
        return None
    if params is None:
        return None
    try:
        async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
            call = await intake.receive_new_voice_call(params)
        answer = None if call is None else twiml.queue_for_operator()
    except (OperationalError, TimeoutError):  # the database is away, or too slow
        logger.exception("voice intake failed; answering with the fallback TwiML")
        answer = twiml.fallback()
    except Exception:
        logger.exception("voice intake failed on the fast lane; Django's view takes the call")
        return None
    if answer is None:
        return None
    LATENCY.observe(time.perf_counter() - started)
    return answer, headers


def signed_call(scope, body):
    """The request, and its parameters made storable (`twilio_params`) when the request is
    signed by Twilio, carries a CallSid and is nothing Django's middleware would answer itself;
    else None in their place."""
    request = ASGIRequest(scope, io.BytesIO(body))
    if not is_plain(request) or not is_signed_by_twilio(request):
        return request, None
    params = twilio_params.clean(request.POST)
    return request, params if params.get("CallSid") else None


def is_plain(request):
    """Nothing Django's middleware would answer itself: a host it refuses, a plain-HTTP
    request it redirects to HTTPS."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return request.is_secure() or not settings.SECURE_SSL_REDIRECT


def response_headers(request):
    """The headers Django's middleware gives the voice webhook's answer
    (tests/calls/test_fastlane.py compares them)."""
    headers = [
        ("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()),
        ("Vary", "Accept-Language"),
        ("Content-Language", settings.LANGUAGE_CODE),
        ("Content-Security-Policy", current_policy()),
    ]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append(("Referrer-Policy", referrer_policy()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if settings.SECURE_HSTS_SECONDS and request.is_secure():
        headers.append(("Strict-Transport-Security", hsts()))
    return headers


def referrer_policy():
    """As Django's SecurityMiddleware writes it: a comma-separated string or a list."""
    policy = settings.SECURE_REFERRER_POLICY
    if isinstance(policy, str):
        policy = [value.strip() for value in policy.split(",")]
    return ",".join(policy)


def hsts():
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


async def read_body(receive):
    """The messages read, and the body they make: None beyond Django's size limit (Django
    reads the rest and refuses it) or if the client left."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and size > limit:
            return messages, None
        if not message.get("more_body"):
            return messages, b"".join(message.get("body", b"") for message in messages)


def replaying(messages, receive):
    """`receive` for Django, giving it first what was read here."""
    messages = list(messages)

    async def replayed():
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed


async def send_twiml(send, text, headers):
    content = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/xml; charset=utf-8"),
                (b"content-length", str(len(content)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
