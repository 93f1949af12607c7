"""Escalation with real Celery workers (CONTRACT §8: each step fires exactly once, also across
worker restarts). PostgreSQL only: the workers are separate processes on the test database,
and the claim's SKIP LOCKED is what keeps two of them from firing the same step.

Each test starts `celery -A dispatch worker --pool=solo` subprocesses (once the Procfile's
prefork pool) consuming a queue of their own (a fresh name per test) on Redis database 9 of
REDIS_URL's server, and sends them `dispatch.tasks.sweep` as beat would. No assertion depends
on timing: every wait is a bounded poll of the database, and a test only fails on its timeout
when something is really stuck.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.utils import timezone

from agencies.models import Agency, Area, Category, EscalationPolicy, User
from dispatch import incidents
from dispatch.models import Assignment, IncidentEvent
from tests.conftest import api_as, make_user, requires_postgres
from tests.dispatch.helpers import every_seq, follow_replay

pytestmark = [
    requires_postgres,
    pytest.mark.usefixtures("transactional_db", "cilegon"),
    # Worker start-up and hundreds of steps on a busy CI box: more than the suite's 120 s.
    pytest.mark.timeout(300),
]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 9
READY_WITHIN = 60  # a cold worker imports Django, connects to Redis and PostgreSQL
FIRED_WITHIN = 30  # the bound the CONTRACT's 5 s is checked against, generously
DRAINED_WITHIN = 60

# Console-only steps: nothing goes to the notification queue that these workers don't read.
CONSOLE_STEPS = [
    {"after_seconds": 1, "action": "notify_agency"},
    {"after_seconds": 2, "action": "notify_supervisors"},
    {"after_seconds": 3, "action": "notify_agency"},
]

# A worker whose every batch takes a little longer, so a SIGKILL lands mid-sweep for sure.
# The code it runs is otherwise the real worker's.
SLOW_WORKER = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from dispatch import escalation
delay, fire_batch = float(os.environ["TEST_BATCH_DELAY"]), escalation.fire_batch
def slow_fire_batch(assignments, now):
    if assignments:
        time.sleep(delay)
    return fire_batch(assignments, now)
escalation.fire_batch = slow_fire_batch
from celery.bin.celery import main
sys.argv[0] = "celery"
sys.exit(main())
"""


def wait_until(predicate, timeout, *, every=0.1, meanwhile=None):
    """Poll `predicate` until true or `timeout` seconds pass; `meanwhile` runs between polls
    (e.g. a beat-like sweep). Returns the last value of the predicate."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        if meanwhile:
            meanwhile()
        time.sleep(every)


def worker_database_url():
    """The pytest-django test database, for the worker processes."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


def private_redis_url():
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


class Workers:
    """Celery worker subprocesses on one private queue, and a client app that sends to it."""

    def __init__(self, log_dir):
        self.queue = f"escalation-test-{uuid.uuid4().hex[:12]}"
        self.redis_url = private_redis_url()
        self.log_dir = log_dir
        self.processes = {}
        self.app = Celery("escalation-tests", broker=self.redis_url, set_as_current=False)
        self.app.conf.broker_connection_retry_on_startup = True
        self.env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": self.redis_url,
            "DISPATCH_DEMO_ENV_FILE": "",
            "DJANGO_DEBUG": "1",
            "TELEPHONY_BACKEND": "console",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, name, *, batch_delay=None, pool="solo", concurrency=1):
        node = f"{name}-{self.queue}@localhost"
        args = [
            "-A",
            "dispatch",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-Q",
            self.queue,
            "-n",
            node,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ]
        env = dict(self.env)
        if batch_delay is None:
            command = [sys.executable, "-m", "celery", *args]
        else:
            command = [sys.executable, "-c", SLOW_WORKER, *args]
            env["TEST_BATCH_DELAY"] = str(batch_delay)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[node] = process
        self.wait_ready(node, process, name)
        return node

    def wait_ready(self, node, process, name):
        def answers():
            assert process.poll() is None, f"worker {name} exited:\n{self.log(name)}"
            return self.app.control.ping(destination=[node], timeout=0.5)

        assert wait_until(answers, READY_WITHIN), f"worker {name} not ready:\n{self.log(name)}"

    def log(self, name):
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def sweep(self):
        self.app.send_task("dispatch.tasks.sweep", queue=self.queue)

    def kill(self, node):
        """SIGKILL: no chance to finish, commit or clean up."""
        process = self.processes.pop(node)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def queued(self):
        with redis.Redis.from_url(self.redis_url) as client:
            return client.llen(self.queue)

    def wait_idle(self):
        """Every sweep sent has run to its end: the queue is empty and no worker has a task
        in hand (asked of each worker; a solo worker answers only between tasks anyway)."""
        assert wait_until(lambda: self.queued() == 0, DRAINED_WITHIN), "queue not drained"

        def idle():
            replies = self.app.control.inspect(destination=list(self.processes), timeout=1.0)
            active = replies.active() or {}
            return set(active) == set(self.processes) and not any(active.values())

        assert wait_until(idle, DRAINED_WITHIN, every=0.2), "a worker is stuck in a task"

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        self.app.close()
        self.forget_queue()

    def forget_queue(self):
        """Leave nothing of this test's queue in Redis: the queue, its bindings, and the sweep
        a killed worker held unacknowledged (kombu would restore it an hour later)."""
        with redis.Redis.from_url(self.redis_url) as client:
            for key in client.scan_iter(match=f"*{self.queue}*"):
                client.delete(key)
            for tag, message in client.hscan_iter("unacked"):
                if self.queue.encode() in message:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)


@pytest.fixture
def workers(tmp_path):
    """Started per test; stopped (and their queue deleted) before the database is flushed."""
    pool = Workers(tmp_path)
    try:
        with redis.Redis.from_url(pool.redis_url) as client:
            client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {pool.redis_url} is needed for the worker tests: {error}")
    yield pool
    pool.stop()


def policy(steps):
    agency = Agency.objects.get(code="DPKP")
    agency.escalation_policy = EscalationPolicy.objects.create(name="worker test", steps=steps)
    agency.save()
    return agency


def pending_assignments(count, agency, overdue_by):
    """`count` DPKP assignments created `overdue_by` seconds ago: every step with
    after_seconds < overdue_by is already due."""
    fire = Category.objects.get(code="FIRE")
    area = Area.objects.get(code="36.72.08.1007")
    ids = []
    for _ in range(count):
        incident = incidents.create_incident(actor=None, category=fire, area=area)
        [assignment] = incidents.dispatch(incident.id, actor=None, agencies=[agency])
        ids.append(assignment.id)
    backdate(ids, overdue_by, agency.escalation_policy.steps)
    return ids


def backdate(ids, seconds, steps):
    created = timezone.now() - timedelta(seconds=seconds)
    Assignment.objects.filter(id__in=ids).update(
        created_at=created,
        escalate_at=created + timedelta(seconds=steps[0]["after_seconds"]),
    )


def fired():
    """(assignment id, step index) of every escalation.triggered event, with repeats."""
    return Counter(
        IncidentEvent.objects.filter(type="escalation.triggered").values_list(
            "data__assignment__id", "data__step__index"
        )
    )


def assert_each_step_fired_once(ids, steps):
    counts = fired()
    expected = {(assignment_id, index) for assignment_id in ids for index in range(steps)}
    duplicates = {key: n for key, n in counts.items() if n > 1}
    assert not duplicates, f"fired more than once: {duplicates}"
    assert set(counts) == expected, f"missing: {sorted(expected - set(counts))[:10]}"
    rows = Assignment.objects.filter(id__in=ids)
    assert set(rows.values_list("escalation_level", flat=True)) == {steps}


@pytest.mark.parametrize(
    "pool", [("solo", 1), ("prefork", 2)], ids=["solo", "prefork-as-in-the-procfile"]
)
def test_a_worker_fires_due_steps_on_time(workers, pool):
    agency = policy(CONSOLE_STEPS[:2])
    [overdue] = pending_assignments(1, agency, overdue_by=10)
    [upcoming] = pending_assignments(1, agency, overdue_by=0)  # due in 1 s and 2 s
    workers.start("w1", pool=pool[0], concurrency=pool[1])

    def all_fired():
        return sum(fired().values()) == 4

    # Sweep every half second, as beat would (it sweeps every ESCALATION_SWEEP_SECONDS).
    assert wait_until(all_fired, FIRED_WITHIN, every=0.5, meanwhile=workers.sweep), fired()
    workers.wait_idle()
    assert_each_step_fired_once([overdue, upcoming], 2)
    for event in IncidentEvent.objects.filter(type="escalation.triggered"):
        step = event.data["step"]
        assert datetime.fromisoformat(step["fired_at"]) >= datetime.fromisoformat(step["due_at"])
    for assignment in Assignment.objects.filter(id__in=[overdue, upcoming]):
        assert assignment.escalate_at is None
        assert assignment.status == Assignment.Status.PENDING


def test_two_workers_fire_each_step_exactly_once(workers):
    agency = policy(CONSOLE_STEPS)
    ids = pending_assignments(50, agency, overdue_by=60)
    workers.start("w1")
    workers.start("w2")

    for _ in range(40):  # a burst of concurrent sweeps for the two workers to fight over
        workers.sweep()
    assert wait_until(lambda: sum(fired().values()) >= 150, FIRED_WITHIN, every=0.2)
    workers.wait_idle()
    assert_each_step_fired_once(ids, 3)
    assert sum(fired().values()) == 150


def test_a_worker_killed_mid_sweep_loses_and_repeats_nothing(workers):
    agency = policy(CONSOLE_STEPS[:2])
    doomed = workers.start("doomed", batch_delay=4)  # its start-up sweep finds nothing due
    ids = pending_assignments(150, agency, overdue_by=60)  # 300 due steps: 2 batches of 100
    total = 300

    workers.sweep()
    # The first batch commits (200 steps); kill while the second is in its transaction.
    assert wait_until(lambda: sum(fired().values()) > 0, FIRED_WITHIN, every=0.05)
    workers.kill(doomed)
    before = sum(fired().values())
    assert 0 < before < total, "the kill did not land mid-sweep"
    assert set(fired().values()) == {1}

    workers.start("survivor")
    # Beat keeps sweeping; the dead worker's transaction rolled back, its rows are due again.
    assert wait_until(
        lambda: sum(fired().values()) >= total, FIRED_WITHIN, every=0.5, meanwhile=workers.sweep
    ), f"{sum(fired().values())} of {total} fired"
    workers.wait_idle()
    assert_each_step_fired_once(ids, 2)
    assert sum(fired().values()) == total
    # A console that followed the replay through it all has every event, each once.
    operator = make_user("replay-follower", User.Role.OPERATOR)
    assert follow_replay(api_as(operator)) == every_seq()


def test_one_sweep_shares_a_burst_with_the_other_worker(workers):
    """Beat sends one sweep; it finds more than a batch due and asks for a helper, which the
    idle worker takes: both fire part of the burst, each step once."""
    agency = policy(CONSOLE_STEPS[:1])
    first = workers.start("first", batch_delay=0.5)
    second = workers.start("second", batch_delay=0.5)
    workers.wait_idle()  # their start-up sweeps found nothing due
    ids = pending_assignments(400, agency, overdue_by=60)  # four batches of 100

    workers.sweep()
    assert wait_until(lambda: sum(fired().values()) >= 400, FIRED_WITHIN, every=0.2)
    workers.wait_idle()
    assert_each_step_fired_once(ids, 1)
    for name in (first, second):
        assert "fired for assignment" in workers.log(name.split("-")[0]), name
