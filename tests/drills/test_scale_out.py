"""Scale-out (issue 12): the Procfile's processes, started for real and twice over — two web
processes, two Celery workers and one beat — against one PostgreSQL (the test database) and one
Redis (a redis-server of the drill's own, so no other broker traffic mixes in). It proves what a
province-sized deployment relies on:

1. an event caused through web A reaches a dashboard socket on web B, with the seq the replay
   on B gives it;
2. a burst of escalation steps, all due at one instant, is shared by both workers and every
   step fires exactly once (its one `escalation.triggered` event, its one console
   notification, one worker's log line);
3. a second beat started by mistake changes nothing: with two beats a second burst still fires
   every step once, and every notification is sent once.

Each process runs its Procfile line through the shell, as a Procfile runner does, with the
production-like settings of bench/RESULTS.md. The workers get a `--hostname` each (as they would
on two machines), which keys Celery's own statistics; their log lines, one file per process,
tell which worker fired which step. The sweep runs every half second instead of two, so that
the drill waits less for the sweeps it counts and a burst overlaps more than one: the claims
under locks are what is under test, not the period.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from agencies.models import Agency, Area, Category, User
from dispatch.models import Assignment, Incident, IncidentEvent, Notification
from tests.conftest import TWILIO_TEST_TOKEN, make_user, requires_postgres, sign
from tests.own_redis import OwnRedis, free_port

pytestmark = requires_postgres

ROOT = Path(__file__).resolve().parents[2]
SWEEP_SECONDS = 0.5
BURST = 200  # assignments, each with two steps due at the same instant
STARTUP_SECONDS = 90  # five Django processes starting at once on a small, shared machine
SETTLE_SECONDS = 60
CONSOLE_ACTIONS = {"notify_agency", "notify_supervisors"}
# Every periodic task in the beat's schedule, and where it is shown that running it twice as
# often, and twice at once, changes nothing: what a second beat does.
TWICE_IS_HARMLESS = {
    "dispatch.tasks.sweep": "test_a_second_beat_changes_nothing: due escalation steps and due "
    "notification retries, each once; the health stamp is a time, written again",
    "reports.tasks.refresh_rollups": "tests/reports/test_rollups.py::"
    "test_a_second_runner_waits_for_nothing_and_changes_nothing and "
    "::test_tallying_again_changes_nothing: an advisory lock; a tally is replaced, never added",
}
FIRED = re.compile(r"escalation step (\d+) \(\w+\) fired for assignment (\d+)\b")
SENT = re.compile(r"\bsms notification (\d+) of assignment \d+: sent\b")
PRODUCTION_LIKE = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "scale-out-drill-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SECURE_COOKIES": "0",
    "DISPATCH_DEMO_ENV_FILE": "",
    "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN,
    "TELEPHONY_BACKEND": "console",
    "ESCALATION_SWEEP_SECONDS": str(SWEEP_SECONDS),
    # Seven processes on a PostgreSQL other sessions share: small pools are plenty here.
    "DB_POOL_MIN": "1",
    "DB_POOL_MAX": "5",
}


def procfile():
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def database_url():
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    port = db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{port}/{db['NAME']}"


def wait_until(condition, seconds, what, *processes):
    """Poll `condition` until it returns something true, and return that; on time-out, fail
    naming `what`, with the end of each of these processes' logs as they are then."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    tails = "\n".join(process.tail() for process in processes)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{tails}")


class Process:
    """One Procfile line, run through the shell in a process group of its own (a Celery worker's
    pool children are killed with it), its output in a file of its own."""

    def __init__(self, name, command, env, logs):
        self.name = name
        self.log = logs / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(  # noqa: S603
                ["/bin/sh", "-c", f"exec {command}"],  # noqa: S607
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self):
        return self.log.read_text(errors="replace")

    def tail(self, chars=3000):
        return f"--- {self.name} ---\n{self.output()[-chars:]}"

    def signal(self, signum):
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signum)

    def kill(self):
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


class Cluster:
    def __init__(self, redis, logs):
        self.redis = redis
        self.logs = logs
        self.lines = procfile()
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))},
            **PRODUCTION_LIKE,
            "PATH": path,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis.url,
            "HOST": "127.0.0.1",
        }
        self.processes = []
        self.webs = {}
        self.workers = {}
        self.beats = {}
        self.probe = Celery("scale-out-probe", broker=redis.url)

    def start(self, name, kind, extra_args="", **env):
        command = f"{self.lines[kind]} {extra_args}".strip()
        process = Process(name, command, {**self.env, **env}, self.logs)
        self.processes.append(process)
        return process

    def start_web(self, name):
        port = free_port()
        self.start(name, "web", PORT=str(port))
        self.webs[name] = f"http://127.0.0.1:{port}"

    def start_worker(self, name):
        # The name before "@" keys Celery's statistics; %h is the machine, as on two hosts.
        self.workers[name] = self.start(name, "worker", f"--hostname {name}@%h")

    def start_beat(self, name):
        self.beats[name] = self.start(
            name, "beat", CELERY_BEAT_SCHEDULE=str(self.logs / f"{name}-schedule")
        )

    def stop(self, process):
        process.kill()
        self.processes.remove(process)

    def stop_all(self):
        for process in list(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):  # killed; the others next
                self.stop(process)
        self.probe.close()

    def tails(self):
        return "\n".join(process.tail() for process in self.processes)

    def check_alive(self):
        dead = [p.name for p in self.processes if p.popen.poll() is not None]
        assert not dead, f"exited: {dead}\n{self.tails()}"

    # Readiness, each from outside the process.

    def webs_healthy(self):
        self.check_alive()
        try:
            return all(
                httpx.get(f"{url}/healthz/").status_code == 200 for url in self.webs.values()
            )
        except httpx.TransportError:
            return False

    def worker_stats(self):
        """Celery's own per-worker statistics, by worker name (`remote control`, broadcast)."""
        replies = self.probe.control.inspect(timeout=3, limit=len(self.workers)).stats() or {}
        return {hostname.split("@")[0]: stats for hostname, stats in replies.items()}

    def sweeps_run(self):
        """How many sweeps the workers have run so far, together; None unless every worker
        answered (a partial count would make the difference between two counts meaningless)."""
        stats = self.worker_stats()
        if set(stats) != set(self.workers):
            return None
        return sum(s.get("total", {}).get("dispatch.tasks.sweep", 0) for s in stats.values())

    def wait_for_sweeps(self, count, what):
        """Wait until the workers together have run `count` more sweeps than now: polling for
        work that a sweep would do, without guessing how long a sweep takes."""

        def counted():  # a 1-tuple: zero sweeps is an answer too
            total = self.sweeps_run()
            return None if total is None else (total,)

        (start,) = wait_until(counted, SETTLE_SECONDS, f"statistics ({what})", *self.processes)

        def swept():
            self.check_alive()
            return (self.sweeps_run() or 0) >= start + count

        wait_until(swept, SETTLE_SECONDS, what, *self.processes)

    def wait_until_ready(self):
        wait_until(self.webs_healthy, STARTUP_SECONDS, "web processes", *self.processes)

        def workers_answer():
            self.check_alive()
            return set(self.worker_stats()) == set(self.workers)

        wait_until(workers_answer, STARTUP_SECONDS, "both workers", *self.processes)
        self.wait_for_sweeps(2, "the beat's first sweeps")

    def fired_steps(self, assignment_ids):
        """{worker: [(assignment id, step index), ...]} from each worker's log lines."""
        fired = {}
        for name, worker in self.workers.items():
            matches = (m.groups() for m in FIRED.finditer(worker.output()))
            fired[name] = [
                (int(assignment), int(step))
                for step, assignment in matches
                if int(assignment) in assignment_ids
            ]
        return fired

    def sms_sent(self, notification_ids):
        """{worker: [notification id, ...]} for the SMS each worker reports sent."""
        return {
            name: [
                int(m.group(1))
                for m in SENT.finditer(worker.output())
                if int(m.group(1)) in notification_ids
            ]
            for name, worker in self.workers.items()
        }


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory):
    """Two web processes, two workers and a beat on the test database, for the module; killed
    whatever happens."""
    redis = OwnRedis().start()
    cluster = Cluster(redis, tmp_path_factory.mktemp("scale-out"))
    try:
        for name in ("web-a", "web-b"):
            cluster.start_web(name)
        for name in ("worker-a", "worker-b"):
            cluster.start_worker(name)
        cluster.start_beat("beat-1")
        cluster.wait_until_ready()
        yield cluster
    finally:
        cluster.stop_all()
        redis.stop()


@pytest.fixture
def operator_token(transactional_db, cilegon):
    user = make_user("scale-out-operator", User.Role.OPERATOR)
    return Token.objects.create(user=user).key


@contextlib.contextmanager
def dashboard(base, token):
    """A dashboard socket on `base`, past its hello: yields (socket, hello seq)."""
    with connect(
        base.replace("http", "ws", 1) + "/ws/dashboard/",
        additional_headers={"Authorization": f"Token {token}", "Origin": base},
        open_timeout=20,
        max_queue=None,  # a burst's events wait in the client, not in the server's buffers
    ) as socket:
        hello = json.loads(socket.recv(timeout=20))
        assert hello["type"] == "hello", hello
        yield socket, hello["seq"]


def received(socket, until, seconds=SETTLE_SECONDS):
    """Envelopes from the socket (heartbeats left out) until `until(envelopes)` holds."""
    envelopes = []
    deadline = time.monotonic() + seconds
    while not until(envelopes):
        remaining = deadline - time.monotonic()
        try:
            message = json.loads(socket.recv(timeout=max(remaining, 0)))
        except TimeoutError:
            raise AssertionError(f"after {seconds} s, {len(envelopes)} envelopes: not it") from None
        if message["type"] != "heartbeat":
            envelopes.append(message)
    return envelopes


def replay(base, token, after):
    """Every envelope `GET /api/v1/events/?after=` hands a client following it on `base`."""
    envelopes = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}) as client:
        while True:
            response = client.get(f"/api/v1/events/?after={after}&page_size=200", timeout=20)
            assert response.status_code == 200, response.text
            page = response.json()["results"]
            if not page:
                return envelopes
            envelopes += page
            after = page[-1]["seq"]


def voice_webhook(base, sid):
    url = f"{base}/calls/twilio/voice/"
    params = {"CallSid": sid, "From": "+6281234500001", "To": "112", "CallStatus": "ringing"}
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})


def test_an_event_caused_on_web_a_reaches_a_socket_on_web_b(cluster, operator_token):
    web_a, web_b = cluster.webs["web-a"], cluster.webs["web-b"]
    with dashboard(web_b, operator_token) as (socket, hello_seq):
        sid = f"CAscaleout{time.time_ns()}"
        assert voice_webhook(web_a, sid).status_code == 200

        def call_arrived(envelopes):
            return [e for e in envelopes if e["type"] == "call.created" and sid in json.dumps(e)]

        live = call_arrived(received(socket, call_arrived))

    assert len(live) == 1
    replayed = [e for e in replay(web_b, operator_token, hello_seq) if e["seq"] == live[0]["seq"]]
    assert len(replayed) == 1
    assert replayed[0]["type"] == "call.created"
    assert sid in json.dumps(replayed[0]["data"])


def overdue_burst(actions, count=BURST):
    """`count` dispatched incidents, each with one pending assignment whose policy steps (one
    per action, due 1 s, 2 s, … after creation) were all due an hour ago — but not scheduled
    until one UPDATE makes every one of them due at the same instant, as after a worker
    outage. Returns the assignment ids."""
    agency = Agency.objects.get(code="DPKP")
    agency.phone = agency.phone or "+6281234500099"
    agency.save(update_fields=["phone"])
    tag = time.time_ns()
    incidents = Incident.objects.bulk_create(
        Incident(
            reference=f"SCALE-{tag}-{n}",
            status=Incident.Status.DISPATCHED,
            category=Category.objects.get(code="FIRE"),
            area=Area.objects.get(code="36.72.08.1007"),
        )
        for n in range(count)
    )
    an_hour_ago = timezone.now() - timedelta(hours=1)
    steps = [{"after_seconds": n + 1, "action": action} for n, action in enumerate(actions)]
    assignments = Assignment.objects.bulk_create(
        Assignment(incident=incident, agency=agency, created_at=an_hour_ago, escalation_steps=steps)
        for incident in incidents
    )
    ids = {assignment.id for assignment in assignments}
    Assignment.objects.filter(id__in=ids).update(escalate_at=an_hour_ago + timedelta(seconds=1))
    return ids


def escalation_events(assignment_ids):
    return [
        (event.data["assignment"]["id"], event.data["step"]["index"], event.seq)
        for event in IncidentEvent.objects.filter(
            type="escalation.triggered", incident__assignments__id__in=assignment_ids
        )
    ]


def wait_until_fired(cluster, assignment_ids, steps):
    def all_fired():
        cluster.check_alive()
        return len(escalation_events(assignment_ids)) >= len(assignment_ids) * steps

    wait_until(all_fired, SETTLE_SECONDS, "every step to fire", *cluster.processes)
    # Two more sweeps by whichever workers: a step fired twice would show up by then.
    cluster.wait_for_sweeps(2, "two more sweeps")


def assert_each_step_fired_once(cluster, assignment_ids, actions):
    """Per assignment and step: one event, one console notification where the action alerts a
    console, one log line in one worker's log. Returns how many steps each worker fired."""
    expected = {(a, s) for a in assignment_ids for s in range(len(actions))}
    events = Counter((a, s) for a, s, _seq in escalation_events(assignment_ids))
    assert set(events) == expected
    assert set(events.values()) == {1}, "a step fired twice"
    console = Counter(
        Notification.objects.filter(
            assignment_id__in=assignment_ids, channel=Notification.Channel.CONSOLE
        ).values_list("assignment_id", "step")
    )
    alerts = {(a, s) for a, s in expected if actions[s] in CONSOLE_ACTIONS}
    assert console == Counter(alerts), "one console notification per alerting step"
    finished = Assignment.objects.filter(
        id__in=assignment_ids, escalation_level=len(actions), escalate_at=None
    )
    assert finished.count() == len(assignment_ids)

    fired = cluster.fired_steps(assignment_ids)
    logged = Counter(pair for pairs in fired.values() for pair in pairs)
    assert logged == Counter(expected), "each step logged once, by one worker"
    return {worker: len(pairs) for worker, pairs in fired.items()}


def test_both_workers_share_a_burst_and_each_step_fires_once(cluster, operator_token):
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(dashboard(url, operator_token)) for url in cluster.webs.values()
        ]
        actions = ["notify_agency", "notify_supervisors"]
        assignment_ids = overdue_burst(actions)
        wait_until_fired(cluster, assignment_ids, steps=len(actions))
        shares = assert_each_step_fired_once(cluster, assignment_ids, actions)
        assert all(shares.values()), f"one worker fired the whole burst: {shares}"

        # Every fired step went out live to the sockets on both web processes.
        seqs = {seq for _a, _s, seq in escalation_events(assignment_ids)}

        def all_steps_arrived(envelopes):
            return seqs <= {e["seq"] for e in envelopes if e["type"] == "escalation.triggered"}

        for socket, _hello_seq in sockets:
            received(socket, all_steps_arrived)
    print(f"\nburst of {len(seqs)} steps shared: {shares}")


def retries_due(count):
    """`count` SMS notifications of acknowledged assignments, each waiting for its second
    attempt; one UPDATE makes them all due at once. Returns their ids."""
    agency = Agency.objects.get(code="DPKP")
    incidents = Incident.objects.bulk_create(
        Incident(reference=f"RETRY-{time.time_ns()}-{n}", status=Incident.Status.DISPATCHED)
        for n in range(count)
    )
    assignments = Assignment.objects.bulk_create(
        Assignment(incident=incident, agency=agency, status=Assignment.Status.ACKNOWLEDGED)
        for incident in incidents
    )
    later = timezone.now() + timedelta(hours=1)
    notifications = Notification.objects.bulk_create(
        Notification(
            assignment=assignment,
            step=0,
            channel=Notification.Channel.SMS,
            recipient="+6281234500099",
            body="retry",
            attempts=1,
            next_attempt_at=later,
        )
        for assignment in assignments
    )
    ids = {notification.id for notification in notifications}
    now = timezone.now()
    Notification.objects.filter(id__in=ids).update(
        next_attempt_at=now, updated_at=now - timedelta(seconds=1)
    )
    return ids


def sent_events(notification_ids):
    return Counter(
        event.data["notification"]["id"]
        for event in IncidentEvent.objects.filter(type="notification.sent")
        if event.data["notification"]["id"] in notification_ids
    )


def test_a_second_beat_changes_nothing(cluster, operator_token):
    periodic = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert periodic <= set(TWICE_IS_HARMLESS), (
        "a new periodic task: show that two beats running it change nothing, and list it"
    )
    first = cluster.beats["beat-1"]
    cluster.start_beat("beat-2")
    try:
        # The second beat sends sweeps of its own: they go on while the first is frozen.
        first.signal(signal.SIGSTOP)
        try:
            cluster.wait_for_sweeps(3, "sweeps from the second beat")
        finally:
            first.signal(signal.SIGCONT)

        actions = ["notify_agency", "sms_agency"]
        assignment_ids = overdue_burst(actions)
        retry_ids = retries_due(20)
        wait_until_fired(cluster, assignment_ids, steps=len(actions))
        sms = Notification.objects.filter(
            assignment_id__in=assignment_ids, channel=Notification.Channel.SMS
        )
        sms_ids = set(sms.values_list("id", flat=True))

        def all_sent():
            cluster.check_alive()
            return len(sent_events(sms_ids | retry_ids)) >= len(sms_ids) + len(retry_ids)

        wait_until(all_sent, SETTLE_SECONDS, "every SMS to be sent", *cluster.processes)
        cluster.wait_for_sweeps(2, "two more sweeps")

        assert_each_step_fired_once(cluster, assignment_ids, actions)
        assert len(sms_ids) == len(assignment_ids)
        every_sms = Notification.objects.filter(id__in=sms_ids | retry_ids)
        attempts = Counter(every_sms.values_list("status", "attempts"))
        assert attempts == {("sent", 1): len(sms_ids), ("sent", 2): len(retry_ids)}
        assert set(sent_events(sms_ids | retry_ids).values()) == {1}
        logged = Counter(n for ids in cluster.sms_sent(sms_ids | retry_ids).values() for n in ids)
        assert set(logged) == sms_ids | retry_ids and set(logged.values()) == {1}
    finally:
        first.signal(signal.SIGCONT)
        cluster.stop(cluster.beats.pop("beat-2"))
