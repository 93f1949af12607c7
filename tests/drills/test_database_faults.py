"""PostgreSQL faults in the middle of traffic: every backend of the web process terminated
(`pg_terminate_backend`, as an administrator or a failover does), and the database out of reach
altogether. The first requests after recovery must succeed — on operators' screens and on
Twilio's webhooks — and a 112 caller must hear the fallback long before Twilio's 15 s."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from django.db import connection

from calls.models import Call
from tests.conftest import TWILIO_TEST_TOKEN, requires_postgres, sign

pytestmark = requires_postgres

ROOT = Path(__file__).resolve().parents[2]


def terminate_other_backends():
    """What `pg_terminate_backend` from an administrator does to every pooled connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def voice_webhook(base, sid):
    params = {"CallSid": sid, "From": "+6281234500000", "To": "112", "CallStatus": "ringing"}
    signature = sign(f"{base}/calls/twilio/voice/", params)
    return httpx.post(
        f"{base}/calls/twilio/voice/",
        data=params,
        headers={"X-Twilio-Signature": signature},
        timeout=20,
    )


def test_terminated_backends_cost_no_request(live, operator_api):
    # Several requests at once, so the web process's pool holds several connections.
    with ThreadPoolExecutor(8) as pool:
        warm = list(pool.map(lambda _n: operator_api.get("/api/v1/calls/"), range(16)))
    assert {response.status_code for response in warm} == {200}
    assert terminate_other_backends() >= 2

    statuses = [operator_api.get("/api/v1/incidents/").status_code for _ in range(10)]
    calls = [voice_webhook(live, f"CAdrill{n}") for n in range(10)]
    statuses += [operator_api.get("/api/v1/calls/").status_code for _ in range(10)]

    assert statuses == [200] * 20
    assert [response.status_code for response in calls] == [200] * 10
    # Recorded, not answered from the fallback path: every call is in the database.
    assert Call.objects.filter(sid__startswith="CAdrill").count() == 10


def test_with_the_database_unreachable_the_caller_hears_the_fallback_at_once(tmp_path):
    """A web process whose database does not answer (a closed port): the voice webhook still
    answers TwiML, well within Twilio's 15 s (the pool's wait is short)."""
    port = free_tcp_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_tcp_port()}/nowhere",
        "DJANGO_DEBUG": "1",
        "DISPATCH_DEMO_ENV_FILE": "",
        "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN,
        "FALLBACK_PHONE_NUMBER": "+62254000112",
    }
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "dispatch.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_listening(port)
        started = time.monotonic()
        response = voice_webhook(base, "CAnodatabase")
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert response.status_code == 200
    assert "<Dial>+62254000112</Dial>" in response.text
    assert elapsed < 5, f"the caller waited {elapsed:.1f} s for the fallback"


def free_tcp_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port, seconds=20):
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")
