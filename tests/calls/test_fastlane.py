"""The voice webhook's fast lane (config.fastlane): the whole ASGI application, called as uvicorn
calls it, on an event loop of its own, against real PostgreSQL. A new call is answered on the
loop; everything else reaches Django unchanged, and either way the caller hears the same."""

import asyncio
import contextlib
import re
import threading
import time
from urllib.parse import urlencode

import pytest
from django.core.signals import request_started
from django.db import connection, transaction
from django.utils import timezone
from psycopg_pool import PoolTimeout

from calls import intake
from calls.models import Call, HandsetLocation
from config import fastlane
from config.fastlane import VoiceFastLane
from config.request_threads import DjangoHTTP, RequestThreads
from dispatch import events, loop_database
from dispatch.models import Incident, IncidentEvent
from tests.conftest import requires_postgres, sign

pytestmark = [requires_postgres, pytest.mark.usefixtures("transactional_db")]

VOICE = "/calls/twilio/voice/"


@pytest.fixture(scope="module")
def loop():
    """An event loop in a thread, as uvicorn's; its database pool is closed at the end."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    loop_database.close_running_pools()
    running.call_soon_threadsafe(running.stop)
    thread.join(timeout=5)


@pytest.fixture
def django_requests():
    """How many requests reached Django's request handling."""
    started = []

    def count(**_kwargs):
        started.append(1)

    request_started.connect(count)
    yield started
    request_started.disconnect(count)


@pytest.fixture
def published(monkeypatch):
    """The events handed to the publisher (which sends them to the channel layer)."""
    handed = []
    monkeypatch.setattr(events.publisher, "submit", handed.extend)
    return handed


class Answer:
    def __init__(self, messages):
        start = messages[0]
        self.status = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
        self.text = b"".join(m.get("body", b"") for m in messages[1:]).decode()


def request(
    loop,
    path=VOICE,
    params=None,
    *,
    method="POST",
    host="testserver",
    body=None,
    signature=None,
    scheme="http",
    extra_headers=(),
    app=None,
):
    """One request through config.asgi's application (or `app`), as uvicorn would make it."""
    from config.asgi import application

    app = app or application
    params = params or {}
    body = urlencode(params).encode() if body is None else body
    if signature is None:
        signature = sign(f"{scheme}://{host}{path}", params)
    headers = [
        (b"host", host.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
        (b"x-twilio-signature", signature.encode()),
        *extra_headers,
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": (host, 80),
    }
    chunks = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if chunks:
            return chunks.pop(0)
        await asyncio.sleep(3600)  # the client waits for the answer

    async def send(message):
        sent.append(message)

    asyncio.run_coroutine_threadsafe(app(scope, receive, send), loop).result(20)
    return Answer(sent)


def voice_params(sid="CAfast1", **extra):
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "081234567890",
        "To": "112",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def test_a_new_call_is_recorded_and_queued_without_django(loop, django_requests, published):
    answer = request(loop, params=voice_params())
    assert answer.status == 200
    assert "<Enqueue" in answer.text and 'waitUrl="/calls/twilio/wait/"' in answer.text
    assert django_requests == []
    call = Call.objects.select_related("incident").get(sid="CAfast1")
    assert call.from_number == "+6281234567890"
    assert call.queue_state == Call.QueueState.WAITING
    assert re.fullmatch(r"[A-Z]+-\d{8}-\d{4}", call.incident.reference)
    timeline = list(IncidentEvent.objects.filter(incident=call.incident).order_by("id"))
    assert [event.type for event in timeline] == ["incident.created", "call.created"]
    assert [event.id for event in published] == [event.id for event in timeline]


def test_the_records_are_those_django_writes_for_the_same_call(loop, published):
    """The fast lane's call, incident and events against `intake.receive_call`'s (Django's
    view) for a twin call: the same fields and the same payloads, ids and times apart."""
    request(loop, params=voice_params("CAfast-lane"))
    intake.receive_call(voice_params("CAdjango-way") | {"From": "+6281234567890"})
    fast, django = (Call.objects.get(sid=sid) for sid in ("CAfast-lane", "CAdjango-way"))

    def comparable(data):
        if isinstance(data, dict):
            return {
                key: comparable(value)
                for key, value in data.items()
                if key
                not in {
                    "id",
                    "sid",
                    "incident",
                    "reference",
                    "started_at",
                    "created_at",
                    "updated_at",
                    "last_call_at",
                    "calls",
                }
            }
        return data

    for kind in ("incident.created", "call.created"):
        ours, theirs = (
            IncidentEvent.objects.get(incident_id=call.incident_id, type=kind).data
            for call in (fast, django)
        )
        assert ours.keys() == theirs.keys()
        assert comparable(ours) == comparable(theirs)
    created = IncidentEvent.objects.get(incident_id=fast.incident_id, type="incident.created")
    assert created.data["incident"]["reference"] == fast.incident.reference
    for name in ("channel", "from_number", "to_number", "status", "queue_state", "direction"):
        assert getattr(fast, name) == getattr(django, name)
    assert fast.incident.status == django.incident.status == Incident.Status.NEW


def test_a_retried_webhook_goes_to_django_and_is_answered_alike(loop, django_requests, published):
    first = request(loop, params=voice_params())
    again = request(loop, params=voice_params())
    assert len(django_requests) == 1  # the retry only
    assert Call.objects.filter(sid="CAfast1").count() == 1
    assert Incident.objects.count() == 1
    assert again.status == first.status == 200
    assert again.text == first.text
    assert again.headers == first.headers  # the fast lane's headers are Django's


def production_app():
    """The HTTP application as config.asgi builds it, with the settings as they are now (Django's
    middleware reads them when it is loaded)."""
    return VoiceFastLane(DjangoHTTP(RequestThreads(keep_idle=2)))


def test_the_headers_are_djangos_over_https_too(loop, settings, django_requests, published):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    app = production_app()
    forwarded = ((b"x-forwarded-proto", b"https"),)
    signature = sign("https://testserver" + VOICE, voice_params())
    first, again = (
        request(loop, params=voice_params(), signature=signature, extra_headers=forwarded, app=app)
        for _ in range(2)
    )
    assert first.status == again.status == 200
    assert len(django_requests) == 1
    assert "strict-transport-security" in first.headers
    assert again.headers == first.headers


def test_a_forged_signature_is_djangos_403_and_writes_nothing(loop, django_requests):
    answer = request(loop, params=voice_params(), signature="forged")
    assert answer.status == 403
    assert django_requests == [1]
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("kind", "status"),
    [("get", 405), ("unknown host", 400), ("oversized", 413), ("too many fields", 400)],
)
def test_what_django_refuses_it_still_refuses(loop, settings, django_requests, kind, status):
    params = voice_params()
    if kind == "get":
        answer = request(loop, params=params, method="GET")
    elif kind == "unknown host":
        answer = request(loop, params=params, host="evil.example")
    elif kind == "oversized":
        big = urlencode(params | {"Padding": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
        answer = request(loop, params=params, body=big.encode())
    else:  # Django refuses a form of more than DATA_UPLOAD_MAX_NUMBER_FIELDS, signed or not
        many = params | {f"Extra{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)}
        answer = request(loop, params=many)
    assert answer.status == status
    assert django_requests == [1]
    assert not Call.objects.exists()


def test_plain_http_is_left_to_djangos_redirect_to_https(loop, settings, django_requests):
    """With SECURE_SSL_REDIRECT (production), Django's SecurityMiddleware answers a plain-HTTP
    request with its redirect; the fast lane leaves such a request to it."""
    settings.SECURE_SSL_REDIRECT = True
    answer = request(loop, params=voice_params(), app=production_app())
    assert answer.status == 301
    assert answer.headers["location"] == "https://testserver/calls/twilio/voice/"
    assert django_requests == [1]
    assert not Call.objects.exists()


def test_a_waiting_handset_position_makes_django_record_the_call(loop, django_requests, published):
    """An AML text that came before its call: Django's view records the call and places the
    incident where the handset said, in one transaction."""
    HandsetLocation.objects.create(
        sid="SMaml-first",
        from_number="+6281234567890",
        received_at=timezone.now(),
        latitude=-6.0175,
        longitude=106.0456,
        accuracy_m=12,
        positioned_at=timezone.now(),
    )
    answer = request(loop, params=voice_params())
    assert answer.status == 200 and "<Enqueue" in answer.text
    assert django_requests == [1]
    incident = Call.objects.get(sid="CAfast1").incident
    assert (float(incident.latitude), float(incident.longitude)) == (-6.0175, 106.0456)
    assert Incident.objects.count() == 1


def test_hostile_values_are_made_storable_on_the_fast_lane(loop, django_requests, published):
    sid = "CA" + "9" * 5000
    answer = request(loop, params=voice_params(sid, From="0812\x0034567890", CallerName="x" * 9000))
    assert answer.status == 200 and "<Enqueue" in answer.text
    assert django_requests == []
    call = Call.objects.get()
    assert len(call.sid) <= 64 and "\x00" not in call.from_number


def test_dead_pooled_connections_are_replaced_without_a_fallback(loop, django_requests, published):
    """After `pg_terminate_backend` of every other connection (a restart, a failover), the
    next call is still recorded, not answered with the fallback."""
    request(loop, params=voice_params("CAbefore"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    answer = request(loop, params=voice_params("CAafter"))
    assert "<Enqueue" in answer.text
    assert django_requests == []
    assert Call.objects.filter(sid="CAafter", incident__isnull=False).exists()


def test_a_refused_commit_leaves_the_call_to_django(
    loop, monkeypatch, django_requests, published, caplog
):
    """A COMMIT the database refuses (here a deferred foreign key: the lane's statement made
    wrong on purpose) keeps nothing of the lane's work, and Django's view records the call: a
    failure of the lane that is not the database's being away costs the caller nothing."""
    real = intake.numbered_incident_statement

    def to_no_incident(incident, **kwargs):
        incident.id = -1  # the call's foreign key then points nowhere
        return real(incident, **kwargs)

    monkeypatch.setattr(intake, "numbered_incident_statement", to_no_incident)
    answer = request(loop, params=voice_params())
    assert answer.status == 200 and "<Enqueue" in answer.text
    assert django_requests == [1]
    call = Call.objects.get()
    assert call.incident_id is not None and call.incident_id != -1
    assert Incident.objects.count() == 1
    assert "Django's view takes the call" in caplog.text


def test_a_database_too_slow_gets_the_caller_the_fallback_in_time(
    loop, settings, monkeypatch, django_requests, published, caplog
):
    """The day's reference counter held by another transaction (a stuck session): the caller
    hears the fallback when the lane's time is up, not when the lock goes; the lane's work is
    cancelled and rolled back, and its connection serves the next call."""
    settings.FALLBACK_PHONE_NUMBER = "+62254000112"
    monkeypatch.setattr(fastlane, "ANSWER_WITHIN_SECONDS", 0.5)
    request(loop, params=voice_params("CAfirst"))  # the day's counter row exists
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM dispatch_referencecounter FOR UPDATE")
        started = time.monotonic()
        answer = request(loop, params=voice_params("CAstuck"))
        waited = time.monotonic() - started
    assert "<Dial>+62254000112</Dial>" in answer.text
    assert waited < 2
    assert "voice intake failed; answering with the fallback" in caplog.text
    after = request(loop, params=voice_params("CAnext"))
    assert "<Enqueue" in after.text
    assert django_requests == []
    assert set(Call.objects.values_list("sid", flat=True)) == {"CAfirst", "CAnext"}


def test_a_database_away_gets_the_caller_the_fallback(
    loop, settings, monkeypatch, django_requests, caplog
):
    """No connection within DB_POOL_TIMEOUT (the drill `test_database_faults` closes the port
    for real): the fallback, without a second wait in Django's view."""
    settings.FALLBACK_PHONE_NUMBER = "+62254000112"

    async def no_connection(pool):
        raise PoolTimeout("couldn't get a connection after 2.00 sec")

    monkeypatch.setattr(loop_database, "live_connection", no_connection)
    answer = request(loop, params=voice_params())
    assert "<Dial>+62254000112</Dial>" in answer.text
    assert django_requests == []
    assert not Call.objects.exists()


def test_a_cancelled_liveness_check_gives_its_connection_back(loop, monkeypatch, published):
    """A request cancelled while its connection is being checked (a server shutting down, a
    time bound) must not keep the connection: after 20 of them every call would wait for one.
    The check is made to hang; the pool and its connections are real."""
    request(loop, params=voice_params("CAwarm"))  # the loop's pool is open
    pool = asyncio.run_coroutine_threadsafe(loop_database.loop_pool(), loop).result(5)
    available = pool.get_stats()["pool_available"]
    monkeypatch.setattr(loop_database, "may_be_dead", lambda database: True)

    async def hanging_check(self, query, *args, **kwargs):
        await asyncio.sleep(3600)

    monkeypatch.setattr(type(pool._pool[0]), "execute", hanging_check)

    async def cancelled_checks():
        for _ in range(3):
            check = asyncio.ensure_future(loop_database.live_connection(pool))
            await asyncio.sleep(0.05)
            check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await check

    asyncio.run_coroutine_threadsafe(cancelled_checks(), loop).result(5)
    assert pool.get_stats()["pool_available"] == available
