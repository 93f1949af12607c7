"""Operations (CONTRACT §12): /healthz/ checks the database and Redis for real and answers
fast when either hangs; /metrics for loopback or the token; JSON log lines with the incident
and call SID and no phone number at INFO."""

import contextlib
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from agencies.models import Agency, EscalationPolicy
from agencies.phones import mask_phone
from calls.models import Call
from config import health
from config.logformat import JsonFormatter
from dispatch import escalation, incidents, notifications, tasks
from dispatch.models import Assignment, Notification
from tests.conftest import post_signed
from tests.dispatch.helpers import new_incident

pytestmark = pytest.mark.usefixtures("cilegon")

ROOT = Path(__file__).resolve().parent.parent.parent
CALLER = "+6281234567890"
DUTY_PHONE = "+6281298765432"


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers: a hung Redis or PostgreSQL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the 0.2 s timeout: look at `stop` again
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture(autouse=True)
def no_sweep_stamp():
    client = tasks.short_timeout_redis()  # the suite's Redis, whatever a test points REDIS_URL at
    client.delete(tasks.LAST_SWEEP_KEY)
    yield
    client.delete(tasks.LAST_SWEEP_KEY)


def healthz():
    started = time.monotonic()
    response = Client().get("/healthz/")
    return response, time.monotonic() - started


# --- /healthz/ ---------------------------------------------------------------------------------


def test_healthz_checks_the_database_and_redis():
    tasks.stamp_sweep()
    response, _ = healthz()
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checks"] == {"database": "ok", "redis": "ok", "beat": "ok"}
    assert body["escalation_backlog"] == 0
    assert body["warnings"] == []


def test_the_sweep_stamps_the_beat_and_a_stale_stamp_is_a_late_beat_but_still_200():
    tasks.sweep()
    assert healthz()[0].json()["checks"]["beat"] == "ok"
    tasks.short_timeout_redis().set(tasks.LAST_SWEEP_KEY, time.time() - 3600)
    response, _ = healthz()
    assert response.status_code == 200
    assert response.json()["checks"]["beat"] == "late"
    assert any("beat late" in warning for warning in response.json()["warnings"])


def test_a_beat_never_seen_is_unknown_and_a_warning():
    body = healthz()[0].json()
    assert body["checks"]["beat"] == "unknown"
    assert body["ok"] is True and body["warnings"]


@pytest.mark.django_db(transaction=True)
def test_the_escalation_backlog_counts_steps_more_than_30_seconds_overdue(cilegon):
    incident = new_incident()
    dpkp, psc = Agency.objects.get(code="DPKP"), Agency.objects.get(code="PSC119")
    incidents.dispatch(incident.pk, actor=None, agencies=[dpkp, psc])
    now = timezone.now()
    Assignment.objects.filter(agency=dpkp).update(escalate_at=now - timedelta(seconds=45))
    Assignment.objects.filter(agency=psc).update(escalate_at=now - timedelta(seconds=5))
    body = healthz()[0].json()
    assert body["escalation_backlog"] == 1
    assert any("escalation backlog: 1" in warning for warning in body["warnings"])


def test_redis_unreachable_is_a_503_naming_redis(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response, seconds = healthz()
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")
    assert seconds < 3


def test_a_hung_redis_is_a_503_within_three_seconds(settings, silent_server):
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_server}/0"
    response, seconds = healthz()
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error: ")
    assert seconds < 3


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the check's own connection is PostgreSQL's"
)


def database_at(monkeypatch, port):
    params = health.database_params

    monkeypatch.setattr(
        health, "database_params", lambda: {**params(), "host": "127.0.0.1", "port": port}
    )


@postgres_only
def test_database_unreachable_is_a_503_naming_the_database(monkeypatch):
    database_at(monkeypatch, closed_port())
    response, seconds = healthz()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"].startswith("error: ")
    assert body["checks"]["redis"] == "ok"
    assert body["escalation_backlog"] is None
    assert seconds < 3


@postgres_only
def test_a_hung_database_is_a_503_within_three_seconds(monkeypatch, silent_server):
    database_at(monkeypatch, silent_server)
    response, seconds = healthz()
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("error: ")
    assert seconds < 3


def test_healthz_needs_no_sign_in_and_only_reads():
    assert Client().get("/healthz/").status_code == 200
    assert Client().post("/healthz/").status_code == 405


# --- /metrics ----------------------------------------------------------------------------------


def scrape(remote="127.0.0.1", **headers):
    return Client(REMOTE_ADDR=remote).get("/metrics", **headers)


def sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_waiting_callers_pending_assignments_escalations_and_failures(client):
    post_signed(
        client,
        "/calls/twilio/voice/",
        {"CallSid": "CAmetrics1", "From": CALLER, "To": "112", "CallStatus": "ringing"},
    )
    incident = new_incident()
    dpkp = Agency.objects.get(code="DPKP")
    dpkp.escalation_policy = EscalationPolicy.objects.create(
        name="metrics", steps=[{"after_seconds": 0, "action": "notify_agency"}]
    )
    dpkp.save()
    (assignment,) = incidents.dispatch(incident.pk, actor=None, agencies=[dpkp])
    escalation.run_due(now=timezone.now() + timedelta(seconds=1))
    Notification.objects.create(
        assignment=assignment, step=9, channel="sms", recipient="x", status="failed"
    )

    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert sample(text, "dispatch_calls_waiting") == 1
    assert sample(text, "dispatch_assignments_pending") == 1
    assert re.search(r"^# TYPE dispatch_escalations_fired(_total)? counter$", text, re.M)
    assert sample(text, "dispatch_escalations_fired_total") == 1
    assert sample(text, "dispatch_notification_failures_total") == 1
    assert "# TYPE dispatch_webhook_seconds histogram" in text
    assert sample(text, 'dispatch_webhook_seconds_count{endpoint="voice"}') >= 1


def test_metrics_from_elsewhere_are_refused():
    assert scrape(remote="203.0.113.7").status_code == 403


def test_a_forged_forwarded_for_does_not_make_a_client_local():
    """uvicorn rewrites REMOTE_ADDR for trusted proxies only; the header itself is ignored."""
    response = scrape(remote="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


def test_ipv6_loopback_is_local():
    assert scrape(remote="::1").status_code == 200


def test_the_metrics_token_lets_a_remote_scraper_in(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    bearer = "Bearer s3cret-metrics-token"
    assert scrape(remote="203.0.113.7", HTTP_AUTHORIZATION=bearer).status_code == 200
    for wrong in ("Bearer wrong", "Bearer ", "Token s3cret-metrics-token", "s3cret-metrics-token"):
        assert scrape(remote="203.0.113.7", HTTP_AUTHORIZATION=wrong).status_code == 403


def test_without_a_configured_token_an_empty_bearer_is_refused(settings):
    settings.METRICS_TOKEN = ""
    assert scrape(remote="203.0.113.7", HTTP_AUTHORIZATION="Bearer ").status_code == 403


# --- logs --------------------------------------------------------------------------------------


@pytest.fixture
def info_lines():
    """Every INFO-or-above record, as the JSON formatter writes it."""
    formatter = JsonFormatter()
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append((record.levelno, formatter.format(record)))

    handler = Collect(level=logging.INFO)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


def test_json_lines_carry_incident_and_call_sid_and_no_phone_number(
    client, info_lines, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(notifications, "enqueue", lambda notification_id: None)
    post_signed(
        client,
        "/calls/twilio/voice/",
        {"CallSid": "CAlogs1", "From": CALLER, "To": "112", "CallStatus": "ringing"},
    )
    call = Call.objects.get(sid="CAlogs1")
    dpkp = Agency.objects.get(code="DPKP")
    dpkp.phone = DUTY_PHONE
    dpkp.escalation_policy = EscalationPolicy.objects.create(
        name="logs", steps=[{"after_seconds": 0, "action": "sms_agency"}]
    )
    dpkp.save()
    incidents.dispatch(call.incident_id, actor=None, agencies=[dpkp])
    escalation.run_due(now=timezone.now() + timedelta(seconds=1))
    notifications.deliver(Notification.objects.get(channel="sms").id)

    entries = [json.loads(line) for _level, line in info_lines]
    reference = call.incident.reference
    received = [e for e in entries if e["message"].startswith("112 voice call received")]
    assert received and received[0]["incident"] == reference
    assert received[0]["call_sid"] == "CAlogs1"
    fired = [e for e in entries if e["message"].startswith("escalation step 0 (sms_agency)")]
    assert fired and fired[0]["incident"] == reference
    assert any(e["message"].startswith("SMS to +62812****5432") for e in entries)
    sent = [e for e in entries if e["message"].startswith("sms notification")]
    assert sent and sent[0]["incident"] == reference
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
    for level, line in info_lines:
        if level == logging.INFO:
            for number in (CALLER, DUTY_PHONE, CALLER[3:], DUTY_PHONE[3:]):
                assert number not in line


def test_mask_phone_keeps_enough_to_tell_numbers_apart():
    assert mask_phone("+6281234567890") == "+62812****7890"
    assert mask_phone("08123456") == "08****56"
    assert mask_phone("112") == "****"
    assert mask_phone("") == "****"


def test_log_format_json_makes_the_root_handler_write_json_lines(tmp_path):
    """The setting itself, in a fresh process: LOG_FORMAT=json → one JSON object per line."""
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('dispatch.test').info('hello %s', 'x', "
        "extra={'incident': 'CLG-1', 'call_sid': 'CA1'})"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "DISPATCH_DEMO_ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_FORMAT": "json",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    (entry,) = [entry for entry in entries if entry["logger"] == "dispatch.test"]
    assert entry["message"] == "hello x"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "dispatch.test"
    assert entry["incident"] == "CLG-1" and entry["call_sid"] == "CA1"
