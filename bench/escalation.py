"""Benchmark the escalation sweep (CONTRACT §8: a step fires at most 5 s after it is due;
issue 12: 1,000 overdue steps after a worker outage all fire within 1 s of the first).

Builds its own data in a dedicated PostgreSQL database: N pending assignments (default
10,000), of which D (default 1,000) fall due at the same instant, the rest an hour later, and
prints, each beside the floor measured in the same run:

- **the worker outage** (the issue's figure): beat runs, the data falls due, and 3 s later
  the Procfile's worker starts (`celery -A dispatch worker --concurrency 2`, a process of its
  own): when the first step fires after the worker's start, the spread from the first fired
  step to the last (`fired_at` of their `escalation.triggered` events), lateness p50/p99
  (`fired_at - due_at`), how many steps each worker process fired, and none twice;
- the same sweep in this process (`escalation.run_due()`), and from two forked processes at
  once with --processes 2: wall time, lateness;
- queries per fired step (a second, identical run with a counting execute wrapper, so the timed
  run pays nothing for the counting; the after-commit publish included, BEGIN/COMMIT not);
- the cost of an idle sweep over the N not-yet-due rows, and its EXPLAIN (the escalate_at index).

**The floor** is the bare cost of the same rows through the same infrastructure, nothing of
the application: one plain `UPDATE … RETURNING` of the D due rows, and D bare messages through
the same channel layer (`group_send` to the same two groups an escalation event goes to, from
one event loop, as the worker publishes). Ratio = figure / floor.

Each fired step's event is published to the channel layer after commit the way a Celery worker
does it (one event loop per process, dispatch.celery), on Redis database 6 (--redis-url, the
worker's broker too; --no-publish to leave that cost out of the in-process runs). Queued
SMS/call rows are not handed to a broker in-process.

The database (default `dispatch_bench_escalation`, created and migrated here) is emptied at
every run; the script refuses any database whose name does not contain "bench".

    .venv/bin/python bench/escalation.py --processes 2
    .venv/bin/python bench/escalation.py --processes 2 --json
    .venv/bin/python bench/escalation.py --no-worker     # in-process figures only
"""

import argparse
import json
import math
import multiprocessing
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/dispatch_bench_escalation"
# The Cilegon default policy's first step is due 60 s after dispatch.
STEPS = [
    {"after_seconds": 60, "action": "notify_agency"},
    {"after_seconds": 120, "action": "sms_agency"},
    {"after_seconds": 180, "action": "notify_supervisors"},
    {"after_seconds": 300, "action": "call_agency"},
    {"after_seconds": 600, "action": "reroute"},
]
ACTIONS = [step["action"] for step in STEPS]
LEAD_SECONDS = 2.0  # between building the data and the due instant
GOAL_SPREAD_SECONDS = 1.0  # issue 12: all within 1 s of the first
WORKER_READY_WITHIN = 120


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="PostgreSQL database to build the data in; its name must contain 'bench' "
        f"(default: $DATABASE_URL, else {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument("--assignments", type=int, default=10_000, help="pending assignments")
    parser.add_argument("--due", type=int, default=1_000, help="of which due at one instant")
    parser.add_argument(
        "--action",
        choices=ACTIONS,
        default="notify_agency",
        help="the due step's action (sms/call rows are queued; nothing is sent)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="run_due's batch size")
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: also run the sweep from two processes at once on fresh data",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/6",
        help="channel layer the fired steps' events are published to, as in production "
        "(a database of its own, so no live dashboard sees them)",
    )
    parser.add_argument(
        "--no-publish", action="store_true", help="skip publishing events (what it costs)"
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="skip the worker-outage run (Celery processes)"
    )
    parser.add_argument(
        "--outage", type=float, default=3.0, help="seconds between the due instant and the start"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.due <= args.assignments <= 200_000:
        parser.error("need 1 <= --due <= --assignments <= 200000")
    name = urlsplit(args.database_url).path.lstrip("/")
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("the bench needs PostgreSQL (row locks, EXPLAIN)")
    if "bench" not in name:
        parser.error(f"refusing database {name!r}: its name must contain 'bench'")
    return args


def ensure_database(url):
    """CREATE DATABASE when missing, via the server's `postgres` maintenance database."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_answers(url):
    import redis  # noqa: PLC0415

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            return client.ping()
    except redis.RedisError:
        return False


def configure_django(url, redis_url, publish=True):
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DISPATCH_DEMO_ENV_FILE"] = ""
    os.environ["DJANGO_DEBUG"] = "0"  # no query log in the timed run
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(40))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django  # noqa: PLC0415

    django.setup()
    # Nothing leaves the process: queued SMS/call rows are not handed to a broker.
    from dispatch import notifications  # noqa: PLC0415

    notifications.enqueue = lambda notification_id: None
    from dispatch import events  # noqa: PLC0415

    if not publish:
        events.publish_committed = lambda committed: None


def migrate_and_seed():
    from django.core.management import call_command  # noqa: PLC0415

    from agencies.models import Area  # noqa: PLC0415
    from agencies.seed import seed_cilegon  # noqa: PLC0415

    call_command("migrate", verbosity=0, interactive=False)
    if not Area.objects.exists():
        seed_cilegon()


def build(total, due_count, action):
    """Empty the incident tables and create `total` pending assignments, `due_count` of them
    due at the returned instant (LEAD_SECONDS from now), the rest an hour later."""
    from django.db import connection  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from agencies.models import Agency, Area, Category  # noqa: PLC0415
    from dispatch.models import Assignment, Incident  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE dispatch_notification, dispatch_incidentevent, dispatch_assignment, "
            "dispatch_incident RESTART IDENTITY CASCADE"
        )
    agency = Agency.objects.get(code="DPKP")
    category = Category.objects.get(code="FIRE")
    area = Area.objects.filter(parent__isnull=False).first()
    index = next(i for i, step in enumerate(STEPS) if step["action"] == action)
    steps = STEPS[index:]  # the due step first, so every due row fires exactly one step
    created = Incident.objects.bulk_create(
        Incident(
            reference=f"BENCH-{n:06d}",
            status=Incident.Status.DISPATCHED,
            category=category,
            priority=1,
            area=area,
        )
        for n in range(total)
    )
    Assignment.objects.bulk_create(
        (
            Assignment(incident=incident, agency=agency, escalation_steps=steps)
            for incident in created
        ),
        batch_size=2000,
    )
    due_at = timezone.now() + timedelta(seconds=LEAD_SECONDS)
    ids = list(Assignment.objects.order_by("id").values_list("id", flat=True))
    # Spread the due rows over the table, as real ones would be.
    stride = total // due_count
    due_ids = ids[::stride][:due_count]
    created_at = due_at - timedelta(seconds=steps[0]["after_seconds"])
    Assignment.objects.update(created_at=created_at, escalate_at=due_at + timedelta(hours=1))
    Assignment.objects.filter(id__in=due_ids).update(escalate_at=due_at)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE dispatch_assignment, dispatch_incident, dispatch_incidentevent")
    return due_at


def sleep_until(moment):
    from django.utils import timezone  # noqa: PLC0415

    remaining = (moment - timezone.now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)


def sweep_options(batch_size):
    return {"batch_size": batch_size} if batch_size else {}


def timed_sweep(due_at, batch_size):
    from dispatch import escalation  # noqa: PLC0415

    sleep_until(due_at)
    start = time.perf_counter()
    fired = escalation.run_due(**sweep_options(batch_size))
    return fired, time.perf_counter() - start


def close_connections():
    """Close every connection and, with Django's psycopg pool (settings), the pool itself: a
    forked process must not inherit the parent's sockets."""
    from django.db import connections  # noqa: PLC0415

    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()


def parallel_worker(due_at, batch_size, start_barrier, results):
    close_connections()  # never share the parent's
    try:
        start_barrier.wait()
        results.put(timed_sweep(due_at, batch_size))
    except BaseException as error:
        results.put(error)
        raise
    finally:
        close_connections()


def parallel_sweep(due_at, batch_size, processes=2):
    """Run the sweep from `processes` forked processes at the due instant. Returns the total
    fired, the wall time until the last one finished, and each process's share."""
    close_connections()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes, timeout=60)
    results = context.Queue()
    children = [
        context.Process(target=parallel_worker, args=(due_at, batch_size, barrier, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    shares = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join(timeout=60)
    failed = [share for share in shares if isinstance(share, BaseException)]
    if failed:
        raise RuntimeError(f"a sweeping process failed: {failed[0]!r}")
    return sum(f for f, _s in shares), max(s for _f, s in shares), shares


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def lateness():
    """Per fired step: fired_at - due_at as recorded, and event.at - due_at, in seconds."""
    from dispatch.models import IncidentEvent  # noqa: PLC0415

    recorded, written = [], []
    for at, step in IncidentEvent.objects.filter(type="escalation.triggered").values_list(
        "at", "data__step"
    ):
        due_at = datetime.fromisoformat(step["due_at"])
        recorded.append((datetime.fromisoformat(step["fired_at"]) - due_at).total_seconds())
        written.append((at - due_at).total_seconds())
    return recorded, written


def summary(values):
    return {
        "p50": round(statistics.median(values), 3) if values else None,
        "p99": round(percentile(values, 0.99), 3) if values else None,
        "max": round(max(values), 3) if values else None,
    }


def count_queries(due_at, batch_size):
    """Every statement of a sweep at the due instant, the after-commit publish included. The
    sweep's clock is held at the due instant, so a slow run on a busy machine does not also
    fire the next steps, which fall due a minute later."""
    from django.db import connection  # noqa: PLC0415

    from dispatch import escalation  # noqa: PLC0415

    count = 0

    def counted(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    sleep_until(due_at)
    with connection.execute_wrapper(counted):
        fired = escalation.run_due(now=due_at, **sweep_options(batch_size))
    return fired, count


def idle_sweep(repeat=20):
    """A sweep with nothing due (all N rows in the future): its cost, and the plans of its two
    first queries — the due-row window and the incident lock — which must use the escalate_at
    index rather than read every pending row."""
    from django.db import connection, transaction  # noqa: PLC0415
    from django.test.utils import CaptureQueriesContext  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from dispatch import escalation  # noqa: PLC0415

    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fired = escalation.run_due()
        timings.append(time.perf_counter() - start)
        assert fired == 0, "the idle sweep fired"
    with CaptureQueriesContext(connection) as captured:
        escalation.run_due()
    now = timezone.now()
    with transaction.atomic():
        plan = escalation.due_incidents(now, escalation.BATCH_SIZE).explain(analyze=True)
    return {
        "ms_median": round(statistics.median(timings) * 1000, 2),
        "ms_max": round(max(timings) * 1000, 2),
        "queries": len(captured.captured_queries),
        "sql": [q["sql"] for q in captured.captured_queries],
        "explain": plan,
        "uses_escalate_at_index": "escalate_at" in plan and "Index" in plan,
    }


def floor(publish):
    """The bare cost of the rows of the last build's due steps (those now at level 1): one plain
    UPDATE … RETURNING of them all, and as many bare messages through the same channel layer,
    to the same two groups as an escalation event, from the same one event loop."""
    from django.db import connection, transaction  # noqa: PLC0415

    from dispatch import events  # noqa: PLC0415
    from dispatch.models import Assignment, IncidentEvent  # noqa: PLC0415

    ids = list(Assignment.objects.filter(escalation_level=1).values_list("id", flat=True))
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE dispatch_assignment SET escalate_at = escalate_at WHERE id = ANY(%s) "
            "RETURNING id",
            [ids],
        )
        cursor.fetchall()
    update_seconds = time.perf_counter() - start
    send_seconds = 0.0
    if publish:
        sample = IncidentEvent.objects.filter(type="escalation.triggered").first()
        message = {"type": "dashboard.events", "events": [events.envelope(sample)]}
        groups = [events.COMMAND_CENTRE_GROUP, events.agency_group(sample.agency_id)]
        start = time.perf_counter()
        for _ in ids:
            events.sender.send(dict.fromkeys(groups, message))
        send_seconds = time.perf_counter() - start
    return {
        "rows": len(ids),
        "update_seconds": round(update_seconds, 3),
        "send_seconds": round(send_seconds, 3),
        "seconds": round(update_seconds + send_seconds, 3),
    }


def clear_broker(redis_url):
    """Leave no task of an earlier run in the bench's own Redis database (the default queue,
    kombu's bindings and unacknowledged messages)."""
    import redis  # noqa: PLC0415

    with redis.Redis.from_url(redis_url) as client:
        for pattern in ("celery", "unacked*", "_kombu.binding.*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)


def spawn(program, log_path):
    """A Procfile program (`celery -A dispatch …`) in a process session of its own."""
    log = open(log_path, "ab")  # noqa: SIM115 (closed once the child has it)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dispatch", *program],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return process


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def fired_rows():
    from dispatch.models import IncidentEvent  # noqa: PLC0415

    return list(
        IncidentEvent.objects.filter(type="escalation.triggered").values_list(
            "data__assignment__id",
            "data__step__index",
            "data__step__fired_at",
            "data__step__due_at",
        )
    )


def worker_outage(args):
    """Beat runs through an outage of the worker; the steps fall due; `args.outage` seconds
    later the Procfile's worker starts. When do they fire, and who fires them?"""
    from django.utils import timezone  # noqa: PLC0415

    from dispatch.models import IncidentEvent  # noqa: PLC0415

    due_at = build(args.assignments, args.due, args.action)
    close_connections()
    clear_broker(args.redis_url)
    logs = Path(tempfile.mkdtemp(prefix="bench-escalation-"))
    beat = spawn(
        ["beat", "--loglevel", "INFO", "--schedule", str(logs / "celerybeat-schedule")],
        logs / "beat.log",
    )
    worker = None
    try:
        sleep_until(due_at + timedelta(seconds=args.outage))
        started = timezone.now()
        worker = spawn(["worker", "--loglevel", "INFO", "--concurrency", "2"], logs / "worker.log")
        deadline = time.monotonic() + WORKER_READY_WITHIN
        triggered = IncidentEvent.objects.filter(type="escalation.triggered")
        while triggered.count() < args.due and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # a step fired twice would show now
    finally:
        if worker is not None:
            stop(worker)
        stop(beat)
    rows = fired_rows()
    fired_at = sorted(datetime.fromisoformat(row[2]) for row in rows)
    late = [
        (datetime.fromisoformat(row[2]) - datetime.fromisoformat(row[3])).total_seconds()
        for row in rows
    ]
    repeats = sum(n - 1 for n in Counter((row[0], row[1]) for row in rows).values())
    log = (logs / "worker.log").read_text(errors="replace")
    by_process = Counter(re.findall(r"/([\w-]+)\] escalation step \d+ \(", log))
    return {
        "fired": len(rows),
        "fired_twice": repeats,
        "first_after_start": round((fired_at[0] - started).total_seconds(), 3) if rows else None,
        "spread": round((fired_at[-1] - fired_at[0]).total_seconds(), 3) if rows else None,
        "lateness_fired_at": summary(late),
        "by_process": dict(sorted(by_process.items())),
        "logs": str(logs),
    }


def main(argv=None):
    args = parse_args(argv)
    ensure_database(args.database_url)
    if not args.no_publish and not redis_answers(args.redis_url):
        print(f"no Redis at {args.redis_url}: events are not published", file=sys.stderr)
        args.no_publish = True
    configure_django(args.database_url, args.redis_url, publish=not args.no_publish)
    migrate_and_seed()
    from django.db import connection  # noqa: PLC0415

    from dispatch import escalation  # noqa: PLC0415

    batch_size = args.batch_size or escalation.BATCH_SIZE
    figures = {
        "database": connection.settings_dict["NAME"],
        "postgres": connection.cursor().connection.info.server_version,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "publish": "off" if args.no_publish else args.redis_url,
        "assignments": args.assignments,
        "due": args.due,
        "action": args.action,
        "batch_size": batch_size,
        "outage": args.outage,
    }

    if not args.no_worker:
        figures["worker_outage"] = worker_outage(args)

    due_at = build(args.assignments, args.due, args.action)
    fired, seconds = timed_sweep(due_at, args.batch_size)
    recorded, written = lateness()
    figures["one_process"] = {
        "fired": fired,
        "sweep_seconds": round(seconds, 3),
        "steps_per_second": round(fired / seconds, 1),
        "lateness_fired_at": summary(recorded),
        "lateness_event_written": summary(written),
    }
    figures["floor"] = floor(publish=not args.no_publish)
    figures["idle_sweep"] = idle_sweep()

    due_at = build(args.assignments, args.due, args.action)
    fired, queries = count_queries(due_at, args.batch_size)
    figures["queries"] = {
        "fired": fired,
        "total": queries,
        "per_fired_step": round(queries / fired, 2),
    }

    if args.processes == 2:
        due_at = build(args.assignments, args.due, args.action)
        fired, seconds, shares = parallel_sweep(due_at, args.batch_size)
        recorded, written = lateness()
        figures["two_processes"] = {
            "fired": fired,
            "events": len(written),
            "sweep_seconds": round(seconds, 3),
            "fired_by_each": [f for f, _s in shares],
            "lateness_fired_at": summary(recorded),
            "lateness_event_written": summary(written),
        }

    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    ok = figures["one_process"]["fired"] == args.due and figures["queries"]["fired"] == args.due
    if "two_processes" in figures:
        two = figures["two_processes"]
        ok = ok and two["fired"] == args.due == two["events"]
    if "worker_outage" in figures:
        outage = figures["worker_outage"]
        ok = ok and outage["fired"] == args.due and outage["fired_twice"] == 0
    return 0 if ok else 1


def ratio(seconds, floor_seconds):
    return f"{seconds / floor_seconds:.1f}× the floor" if floor_seconds else "no floor"


def report(figures):
    one, idle, queries = figures["one_process"], figures["idle_sweep"], figures["queries"]
    print(
        f"PostgreSQL {figures['postgres']}, {figures['cpus']} CPUs; "
        f"{figures['assignments']} pending assignments, {figures['due']} due at one instant "
        f"({figures['action']}), batch {figures['batch_size']}; load average at start "
        f"{figures['load_average']}; events published to {figures['publish']}"
    )
    bare = figures["floor"]
    print(
        f"floor: {bare['seconds']} s for {bare['rows']} rows = one UPDATE … RETURNING "
        f"{bare['update_seconds']} s + {bare['rows']} bare group_sends to two groups "
        f"{bare['send_seconds']} s"
    )
    if "worker_outage" in figures:
        outage = figures["worker_outage"]
        print(
            f"worker outage (Procfile worker, concurrency 2, started {figures['outage']} s after "
            f"the due instant): fired {outage['fired']}, {outage['fired_twice']} twice; by "
            f"process {outage['by_process']}"
        )
        print(f"  first fired {outage['first_after_start']} s after the worker's start")
        print(
            f"  first → last fired: {outage['spread']} s = "
            f"{ratio(outage['spread'] or 0, bare['seconds'])}; goal ≤ {GOAL_SPREAD_SECONDS} s"
        )
        print(f"  lateness fired_at - due_at (s): {outage['lateness_fired_at']}")
        print(f"  worker and beat logs: {outage['logs']}")
    print(
        f"one process: fired {one['fired']} in {one['sweep_seconds']} s "
        f"({one['steps_per_second']} steps/s) = {ratio(one['sweep_seconds'], bare['seconds'])}"
    )
    print(f"  lateness fired_at - due_at (s): {one['lateness_fired_at']}")
    print(f"  lateness event.at - due_at (s): {one['lateness_event_written']}")
    print(
        f"queries: {queries['total']} for {queries['fired']} steps = "
        f"{queries['per_fired_step']} per fired step"
    )
    if "two_processes" in figures:
        two = figures["two_processes"]
        print(
            f"two processes: fired {two['fired']} ({two['fired_by_each']}), "
            f"{two['events']} events, in {two['sweep_seconds']} s = "
            f"{ratio(two['sweep_seconds'], bare['seconds'])}"
        )
        print(f"  lateness fired_at - due_at (s): {two['lateness_fired_at']}")
        print(f"  lateness event.at - due_at (s): {two['lateness_event_written']}")
    print(
        f"idle sweep over {figures['assignments']} not-yet-due rows: median "
        f"{idle['ms_median']} ms, max {idle['ms_max']} ms, {idle['queries']} queries; "
        f"escalate_at index used: {idle['uses_escalate_at_index']}"
    )
    print("idle sweep SQL:")
    for query in idle["sql"]:
        print("  " + query)
    print("EXPLAIN ANALYZE (the incident lock over the due-row window):")
    print("  " + idle["explain"].replace("\n", "\n  "))


if __name__ == "__main__":
    sys.exit(main())
