"""`GET /healthz/` (CONTRACT §12): can this deployment take a 112 call right now?

It checks the database and Redis for real, each on a short-lived connection of its own with
short timeouts (never the request pool, which a busy web process may have lent out, and which
waits 10 s for a connection), and answers within ~3 s even when one of them hangs: the checks
run in a small thread pool and whatever has not answered by the deadline counts as failed.
503 names the failing check. A late beat or an escalation backlog does not stop the web process
from serving, so they are reported (`warnings`) with a 200; monitoring alerts on them.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta

import psycopg
from django.conf import settings
from django.db import connection, connections
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dispatch.models import Assignment
from dispatch.tasks import LAST_SWEEP_KEY, short_timeout_redis

# The whole answer within ~3 s: libpq's smallest connect timeout is 2 s.
DEADLINE_SECONDS = 2.5
DB_CONNECT_TIMEOUT = 2
DB_STATEMENT_TIMEOUT_MS = 1000
# The sweep task stamps LAST_SWEEP_KEY after each run (dispatch.tasks); the beat is late when
# the stamp is older than this many sweep periods (at least LATE_BEAT_MIN_SECONDS).
LATE_BEAT_PERIODS = 5
LATE_BEAT_MIN_SECONDS = 10
# An escalation step this overdue means the sweep is not keeping up (or not running).
BACKLOG_AFTER = timedelta(seconds=30)

# Bounded: a check stuck on a hung server holds a thread until its own timeout; with every
# thread stuck, later checks wait their turn and time out too, which is the right answer.
checks_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")


def short_reason(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"error: {type(error).__name__}{': ' + text[:120] if text else ''}"


def database_params():
    """psycopg.connect() arguments for the configured PostgreSQL database, with short
    timeouts. The pool's options are left out by Django: this connection is the check's own."""
    params = connection.get_connection_params()
    params["connect_timeout"] = DB_CONNECT_TIMEOUT
    params["options"] = f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}"
    return params


def check_database():
    if connection.vendor == "postgresql":
        with psycopg.connect(**database_params()) as conn:
            conn.execute("SELECT 1")
        return "ok"
    # SQLite is a local file: nothing to connect to or hang on but a lock (its own timeout).
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connections.close_all()
    return "ok"


def check_redis():
    """Returns the check's result and the last sweep's time (epoch seconds, or None)."""
    client = short_timeout_redis()
    try:
        client.ping()
        stamp = client.get(LAST_SWEEP_KEY)
    finally:
        client.close()
    return "ok", float(stamp) if stamp else None


def escalation_backlog():
    """Pending assignments whose next step is more than 30 s overdue (the escalate_at index)."""
    try:
        return Assignment.objects.filter(
            status=Assignment.Status.PENDING, escalate_at__lt=timezone.now() - BACKLOG_AFTER
        ).count()
    finally:
        connections.close_all()  # this thread's connection back to the pool


def outcome(future, deadline):
    """The check's value, or an error string when it failed or missed the deadline."""
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return "error: timeout"
    except Exception as error:
        return short_reason(error)


def beat_state(last_sweep):
    if last_sweep is None:
        return "unknown"
    late_after = max(LATE_BEAT_PERIODS * settings.ESCALATION_SWEEP_SECONDS, LATE_BEAT_MIN_SECONDS)
    return "late" if time.time() - last_sweep > late_after else "ok"


def run_checks():
    deadline = time.monotonic() + DEADLINE_SECONDS
    database = checks_pool.submit(check_database)
    cache = checks_pool.submit(check_redis)
    checks = {"database": outcome(database, deadline)}
    backlog = None
    if checks["database"] == "ok":
        counted = outcome(checks_pool.submit(escalation_backlog), deadline)
        backlog = counted if isinstance(counted, int) else None
    redis_result = outcome(cache, deadline)
    last_sweep = None
    if isinstance(redis_result, tuple):
        redis_result, last_sweep = redis_result
    checks["redis"] = redis_result
    checks["beat"] = beat_state(last_sweep) if redis_result == "ok" else "unknown"
    return checks, backlog, last_sweep


def warnings_for(checks, backlog):
    warnings = []
    if checks.get("beat", "ok") != "ok":
        warnings.append(f"beat {checks['beat']}: no escalation sweep seen recently")
    if backlog:
        warnings.append(f"escalation backlog: {backlog} step(s) more than 30 s overdue")
    return warnings


@require_GET
def healthz(request):
    """No authentication: the proxy's and Docker's health check (docker/healthcheck.py)."""
    try:
        checks, backlog, last_sweep = run_checks()
    except Exception as error:  # never a 500 from the health check itself
        checks, backlog, last_sweep = {"healthz": short_reason(error)}, None, None
    ok = checks.get("database") == "ok" and checks.get("redis") == "ok"
    body = {
        "ok": ok,
        "checks": checks,
        "escalation_backlog": backlog,
        "last_sweep_seconds_ago": round(time.time() - last_sweep, 1) if last_sweep else None,
        "warnings": warnings_for(checks, backlog),
    }
    return JsonResponse(body, status=200 if ok else 503)
