"""A year of data: how fast the consoles' lists, the event replay, the history search and the
reports answer with a million historical incidents (issues 11 and 12).

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE dispatch_year"
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_year DJANGO_DEBUG=1 \\
           DISPATCH_DEMO_ENV_FILE=
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_cilegon
    .venv/bin/python bench/year.py --populate 1000000   # once: 5-12 minutes
    .venv/bin/python bench/year.py                      # the measurements
    .venv/bin/python bench/year.py --only open,replay   # some of them

`--populate N` writes N incidents spread over the last 365 days (all but a couple of hundred
ended), one call each (90 % voice, a few abandoned), one assignment each and three timeline
events each (call.created, incident.created, assignment.created, with their payloads), in a few
SQL statements, then VACUUM ANALYZEs. The measurements call the API in-process (Django's test
client, a supervisor or a member of the first agency signed in): what the server spends,
without the network. Each figure is the median and 95th percentile of `--runs` requests, the
median CPU time of this process (Python's share: the machine's load changes it less) and the
request's SQL query count, beside the same run's floor: `GET /api/v1/me/`, an authenticated DRF
request that reads nothing but the user (Django + DRF + auth alone); `× floor` is the p95 over
the floor's p95.
"""

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from agencies.models import Agency, User  # noqa: E402
from dispatch.models import PROVISIONAL_SEQ_OFFSET  # noqa: E402

COMMIT_ORDER_LOCK = importlib.import_module(
    "dispatch.migrations.0004_event_seq_at_commit"
).COMMIT_ORDER_LOCK

OPEN_INCIDENTS = 200
GOAL_P95_MS = 50
FLOOR = "floor: GET me/ (Django+DRF+auth)"
POPULATE_SQL = """
INSERT INTO dispatch_incident (reference, status, priority, description, address, caller_phone,
    caller_name, unroutable, created_at, updated_at, dispatched_at, area_id, category_id,
    aml_method, location_source, close_reason)
SELECT 'Y-' || n,
       CASE WHEN n <= %(open)s THEN 'new' ELSE 'closed' END,
       1 + n %% 4, 'kejadian ' || n, 'Jl. Contoh ' || n,
       '+62812' || lpad((n %% 100000)::text, 7, '0'), '', false,
       now() - (n::float / %(n)s) * interval '365 days',
       now() - (n::float / %(n)s) * interval '365 days',
       now() - (n::float / %(n)s) * interval '365 days' + interval '45 seconds',
       (SELECT id FROM agencies_area ORDER BY id OFFSET n %% (SELECT count(*) FROM agencies_area)
        LIMIT 1),
       (SELECT id FROM agencies_category ORDER BY id
        OFFSET n %% (SELECT count(*) FROM agencies_category) LIMIT 1),
       '', '', CASE WHEN n <= %(open)s THEN '' ELSE 'handled' END
FROM generate_series(1, %(n)s) AS n;

INSERT INTO calls_call (sid, channel, from_number, to_number, status, status_sequence, body,
    started_at, incident_id, abandoned, direction, missed, missed_reason, missed_settlement,
    operator_leg_sid, picked_up_at, queue_result, queue_state, updated_at, wait_seconds,
    classification)
SELECT 'CAY' || i.id,
       CASE WHEN i.id %% 10 = 0 THEN 'sms' ELSE 'voice' END,
       i.caller_phone, '112', 'completed', 3, '', i.created_at - interval '30 seconds', i.id,
       i.id %% 20 = 1, 'inbound', false, '', '', '',
       CASE WHEN i.id %% 20 = 1 OR i.id %% 10 = 0 THEN NULL
            ELSE i.created_at - interval '30 seconds' + (i.id %% 25) * interval '1 second' END,
       '', CASE WHEN i.id %% 10 = 0 THEN NULL ELSE 'ended' END, i.created_at, i.id %% 25,
       (ARRAY['normal', 'normal', 'normal', 'prank', 'ghost', 'info'])[1 + i.id %% 6]
FROM dispatch_incident i WHERE i.reference LIKE 'Y-%%';

INSERT INTO dispatch_assignment (status, created_at, updated_at, acknowledged_at, completed_at,
    note, escalation_steps, escalation_level, agency_id, incident_id)
SELECT CASE WHEN i.status = 'new' THEN 'pending' ELSE 'completed' END,
       i.dispatched_at, i.dispatched_at,
       CASE WHEN i.status = 'new' THEN NULL
            ELSE i.dispatched_at + (10 + i.id %% 110) * interval '1 second' END,
       CASE WHEN i.status = 'new' THEN NULL ELSE i.dispatched_at + interval '40 minutes' END,
       '', '[]', CASE WHEN i.id %% 15 = 0 THEN 1 ELSE 0 END,
       (SELECT id FROM agencies_agency ORDER BY id
        OFFSET i.id %% (SELECT count(*) FROM agencies_agency) LIMIT 1),
       i.id
FROM dispatch_incident i WHERE i.reference LIKE 'Y-%%';
"""


# The API's time format (ISO 8601 in the server's zone, WIB), for the events' payloads.
WIB = """to_char(({}) AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM-DD"T"HH24:MI:SS.US"+07:00"')"""

# Each incident's timeline: its call arrived, the operator opened it, dispatch assigned it —
# the payloads in the API's shapes (dispatch.payloads, calls.serializers), as `record()` writes
# them, so the replay serializes what it does in production. `seq` continues the commit
# sequence of migration 0004 in the incidents' order of time (oldest first): the seq an hour
# back is an hour's worth of events below the head.
EVENTS_SQL = [
    f"""
INSERT INTO dispatch_incidentevent (type, at, actor_id, incident_id, agency_id, data, seq)
SELECT 'call.created', c.started_at, NULL, i.id, NULL,
       jsonb_build_object('call', jsonb_build_object(
           'id', c.id, 'sid', c.sid, 'channel', c.channel, 'direction', c.direction,
           'from_number', c.from_number, 'to_number', c.to_number, 'status', 'ringing',
           'classification', NULL, 'body', c.body, 'started_at', {WIB.format("c.started_at")},
           'answered_at', NULL, 'ended_at', NULL, 'duration_seconds', NULL, 'incident', i.id,
           'queue_state', 'waiting', 'queue_result', '', 'picked_up_by', NULL,
           'picked_up_at', NULL, 'wait_seconds', NULL, 'abandoned', false, 'missed', false,
           'missed_settlement', '', 'missed_settled_at', NULL, 'missed_reason', '',
           'callback_of', NULL,
           'caller_history', jsonb_build_object('calls', i.id %% 4, 'pranks', 0,
                                                'last_call_at', NULL),
           'updated_at', {WIB.format("c.started_at")})),
       %(base)s + 3 * (%(last)s - i.id)
FROM dispatch_incident i JOIN calls_call c ON c.incident_id = i.id
WHERE i.reference LIKE 'Y-%%'""",
    f"""
INSERT INTO dispatch_incidentevent (type, at, actor_id, incident_id, agency_id, data, seq)
SELECT 'incident.created', i.created_at, %(actor)s, i.id, NULL,
       jsonb_build_object('incident', jsonb_build_object(
           'id', i.id, 'reference', i.reference, 'status', 'new', 'category', k.code,
           'priority', i.priority, 'description', i.description, 'area', a.code,
           'address', i.address, 'latitude', i.latitude, 'longitude', i.longitude,
           'location_accuracy_m', NULL, 'location_source', '', 'aml_latitude', NULL,
           'aml_longitude', NULL, 'aml_accuracy_m', NULL, 'aml_at', NULL, 'aml_method', '',
           'caller_phone', i.caller_phone, 'caller_name', i.caller_name, 'close_reason', '',
           'unroutable', false, 'merged_into', NULL,
           'created_at', {WIB.format("i.created_at")}, 'updated_at', {WIB.format("i.created_at")},
           'dispatched_at', NULL, 'resolved_at', NULL,
           'calls', jsonb_build_array((SELECT min(c.id) FROM calls_call c
                                       WHERE c.incident_id = i.id)))),
       %(base)s + 3 * (%(last)s - i.id) + 1
FROM dispatch_incident i
LEFT JOIN agencies_category k ON k.id = i.category_id
LEFT JOIN agencies_area a ON a.id = i.area_id
WHERE i.reference LIKE 'Y-%%'""",
    f"""
INSERT INTO dispatch_incidentevent (type, at, actor_id, incident_id, agency_id, data, seq)
SELECT 'assignment.created', s.created_at, %(actor)s, i.id, s.agency_id,
       jsonb_build_object('assignment', jsonb_build_object(
           'id', s.id, 'incident', i.id, 'incident_reference', i.reference, 'agency', g.code,
           'status', 'pending', 'created_at', {WIB.format("s.created_at")},
           'updated_at', {WIB.format("s.created_at")}, 'acknowledged_at', NULL,
           'acknowledged_by', NULL, 'en_route_at', NULL, 'on_scene_at', NULL,
           'completed_at', NULL, 'declined_at', NULL, 'note', '', 'escalation_level', 0,
           'escalation_steps', jsonb_build_array(
               jsonb_build_object('after_seconds', 120, 'action', 'console'),
               jsonb_build_object('after_seconds', 300, 'action', 'sms'),
               jsonb_build_object('after_seconds', 600, 'action', 'voice')),
           'escalate_at', {WIB.format("s.created_at + interval '120 seconds'")})),
       %(base)s + 3 * (%(last)s - i.id) + 2
FROM dispatch_incident i
JOIN dispatch_assignment s ON s.incident_id = i.id
JOIN agencies_agency g ON g.id = s.agency_id
WHERE i.reference LIKE 'Y-%%'""",
]


def populate(n, actor):
    started = time.monotonic()
    with connection.cursor() as cursor:
        for statement in filter(str.strip, POPULATE_SQL.split(";\n")):
            cursor.execute(statement, {"n": n, "open": OPEN_INCIDENTS})
    print(f"populated {n:,} incidents, calls and assignments in {time.monotonic() - started:.0f} s")
    populate_events(actor)
    with connection.cursor() as cursor:
        # As autovacuum leaves a table some time after a load: statistics, and the visibility
        # map that lets counts read an index alone.
        cursor.execute("VACUUM ANALYZE")
    print(f"… and their events, vacuumed, in {time.monotonic() - started:.0f} s")


def switch_triggers(how, triggers):
    return "ALTER TABLE dispatch_incidentevent " + ", ".join(
        f"{how} TRIGGER {trigger}" for trigger in triggers
    )


def populate_events(actor):
    """Three events per incident in set-based SQL. The seq triggers (migration 0004) would give
    each row its final seq one by one at commit; instead this transaction does what they do,
    once for all: it holds their commit-order lock, so no other event commits meanwhile, and
    numbers the rows from their sequence. The triggers are off for this transaction only."""
    triggers = ("dispatch_event_provisional_seq", "dispatch_event_final_seq")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMMIT_ORDER_LOCK])
        cursor.execute(
            "SELECT nextval('dispatch_incidentevent_commit_seq'), max(id) FROM dispatch_incident"
        )
        base, last = cursor.fetchone()
        cursor.execute(switch_triggers("DISABLE", triggers))
        for statement in EVENTS_SQL:
            cursor.execute(statement, {"base": base, "last": last, "actor": actor.pk})
        # The foreign keys' deferred checks run now: a table with pending ones cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(switch_triggers("ENABLE", triggers))
        cursor.execute(
            "SELECT setval('dispatch_incidentevent_commit_seq', max(seq)) "
            "FROM dispatch_incidentevent WHERE seq < %s",
            [PROVISIONAL_SEQ_OFFSET],
        )


def wib_day(days_ago):
    return (timezone.localdate() - timezone.timedelta(days=days_ago)).isoformat()


def seq_at(moment):
    """The seq of the last event recorded before `moment` (what a client that has been away
    since then holds)."""
    from dispatch.models import IncidentEvent

    before = IncidentEvent.objects.filter(at__lt=moment, seq__lt=PROVISIONAL_SEQ_OFFSET)
    return before.order_by("-at").values_list("seq", flat=True).first() or 0


def measurements(supervisor, agency_staff):
    """(what, who asks, URL): the bare-framework floor first, then what the consoles ask for."""
    from dispatch.models import Incident

    today, tomorrow, some_day = wib_day(0), wib_day(-1), wib_day(3)
    incidents, assignments = "/api/v1/incidents/", "/api/v1/assignments/"
    head = seq_at(timezone.now() + timezone.timedelta(days=1))
    hour_ago = seq_at(timezone.now() - timezone.timedelta(hours=1))
    an_open_incident = Incident.objects.filter(status__in=Incident.OPEN_STATUSES).first()
    return [
        (FLOOR, supervisor, "/api/v1/me/"),
        (
            "open incidents (command centre)",
            supervisor,
            f"{incidents}?status=new,dispatched,in_progress&page_size=200",
        ),
        ("open incidents (agency)", agency_staff, f"{incidents}?open=1&page_size=200"),
        (
            "agency: active assignments",
            agency_staff,
            f"{assignments}?status=pending,acknowledged,en_route,on_scene&page_size=200",
        ),
        (
            "escalations: pending (command centre)",
            supervisor,
            f"{assignments}?escalated=1&status=pending&page_size=200",
        ),
        (
            "escalations: taken back (command centre)",
            supervisor,
            f"{assignments}?escalated=1&status=cancelled&incident_status=new&page_size=200",
        ),
        (
            "agency: finished, newest 50",
            agency_staff,
            f"{assignments}?status=completed,declined,cancelled&page_size=50",
        ),
        (
            "replay: 10 behind the head",
            supervisor,
            f"/api/v1/events/?after={head - 10}&page_size=500",
        ),
        ("replay: an hour back", supervisor, f"/api/v1/events/?after={hour_ago}&page_size=500"),
        (
            "replay: an hour back (agency)",
            agency_staff,
            f"/api/v1/events/?after={hour_ago}&page_size=500",
        ),
        (
            "an incident's timeline",
            supervisor,
            f"{incidents}{an_open_incident.pk}/events/?page_size=500",
        ),
        ("history: search by phone", supervisor, f"{incidents}?q=0812-0004-242&ended=1"),
        (
            "history: one day, newest 25",
            supervisor,
            f"{incidents}?ended=1&created_after={some_day}&created_before={some_day}&page_size=25",
        ),
        ("history page: search by phone", supervisor, "/history/?q=0812-0004-242"),
        ("report: today", supervisor, f"/api/v1/reports/summary/?since={today}&until={tomorrow}"),
        (
            "report: 30 days",
            supervisor,
            f"/api/v1/reports/summary/?since={wib_day(29)}&until={tomorrow}",
        ),
        (
            "report: 365 days",
            supervisor,
            f"/api/v1/reports/summary/?since={wib_day(364)}&until={tomorrow}",
        ),
    ]


def percentile(values, share):
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def measure(client, url, runs):
    """p50 and p95 of the wall time (ms), the p50 of this process's CPU time (ms: Python's
    share, which the machine's load changes less), and the request's query count."""
    client.get(url)  # warm: the first request pays for imports and caches, not for the data
    times, cpu_times, queries = [], [], 0
    for _run in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        queries = len(captured)
    return statistics.median(times), percentile(times, 0.95), statistics.median(cpu_times), queries


def bench_users():
    supervisor, _created = User.objects.get_or_create(
        username="bench-supervisor", defaults={"role": User.Role.SUPERVISOR}
    )
    agency_staff, _created = User.objects.get_or_create(
        username="bench-agency",
        defaults={
            "role": User.Role.AGENCY_STAFF,
            "agency": Agency.objects.order_by("id").first(),
        },
    )
    return supervisor, agency_staff


def signed_in(user):
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populate", type=int, metavar="N", help="write N incidents first")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--only", help="comma-separated words: measure only the figures whose name has one"
    )
    args = parser.parse_args()
    supervisor, agency_staff = bench_users()
    if args.populate:
        populate(args.populate, actor=supervisor)
    from dispatch.models import Incident, IncidentEvent

    print(
        f"{Incident.objects.count():,} incidents, {IncidentEvent.objects.count():,} events in "
        f"the database; load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    clients = {user: signed_in(user) for user in (supervisor, agency_staff)}
    floor_p95 = None
    print(
        f"{'what':32} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7} {'queries':>7} {'× floor':>8}"
        f"  goal: p95 ≤ {GOAL_P95_MS} ms"
    )
    for name, user, url in measurements(supervisor, agency_staff):
        if args.only and name != FLOOR and not any(w in name for w in args.only.split(",")):
            continue
        p50, p95, cpu, queries = measure(clients[user], url, args.runs)
        floor_p95 = floor_p95 or p95
        verdict = "ok" if p95 <= GOAL_P95_MS else "MISSED"
        print(
            f"{name:32} {p50:7.1f} {p95:7.1f} {cpu:7.1f} {queries:7} {p95 / floor_p95:8.1f}"
            f"  {verdict}"
        )


if __name__ == "__main__":
    main()
