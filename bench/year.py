"""A year of data: how fast the consoles' lists, the history search and the reports answer with a
million historical incidents (issue 11).

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE dispatch_year"
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/dispatch_year DJANGO_DEBUG=1 \\
           DISPATCH_DEMO_ENV_FILE=
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_cilegon
    .venv/bin/python bench/year.py --populate 1000000   # once: about two minutes
    .venv/bin/python bench/year.py                      # the measurements

`--populate N` writes N incidents spread over the last 365 days (all but a couple of hundred
ended), one call each (90 % voice, a few abandoned) and one assignment each, in a few SQL
statements, then ANALYZEs. The measurements call the API in-process (Django's test client, a
supervisor signed in): what the server spends, without the network. Each figure is the median
and 95th percentile of `--runs` requests, with the request's SQL query count.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from agencies.models import User  # noqa: E402

OPEN_INCIDENTS = 200
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


def populate(n):
    started = time.monotonic()
    with connection.cursor() as cursor:
        for statement in filter(str.strip, POPULATE_SQL.split(";\n")):
            cursor.execute(statement, {"n": n, "open": OPEN_INCIDENTS})
        cursor.execute("ANALYZE")
    print(f"populated {n:,} incidents, calls and assignments in {time.monotonic() - started:.0f} s")


def wib_day(days_ago):
    return (timezone.localdate() - timezone.timedelta(days=days_ago)).isoformat()


def measurements():
    today, tomorrow, some_day = wib_day(0), wib_day(-1), wib_day(3)
    incidents = "/api/v1/incidents/"
    return [
        (
            "open incidents (console)",
            f"{incidents}?status=new,dispatched,in_progress&page_size=200",
        ),
        ("history: search by phone", f"{incidents}?q=0812-0004-242&ended=1"),
        (
            "history: one day, newest 25",
            f"{incidents}?ended=1&created_after={some_day}&created_before={some_day}&page_size=25",
        ),
        ("report: today", f"/api/v1/reports/summary/?since={today}&until={tomorrow}"),
        ("report: 30 days", f"/api/v1/reports/summary/?since={wib_day(29)}&until={tomorrow}"),
        ("report: 365 days", f"/api/v1/reports/summary/?since={wib_day(364)}&until={tomorrow}"),
    ]


def measure(client, url, runs):
    times, queries = [], 0
    for _run in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        queries = len(captured)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)], queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populate", type=int, metavar="N", help="write N incidents first")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if args.populate:
        populate(args.populate)
    from dispatch.models import Incident

    print(f"{Incident.objects.count():,} incidents in the database")
    user, _created = User.objects.get_or_create(
        username="bench-supervisor", defaults={"role": User.Role.SUPERVISOR}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    print(f"{'what':32} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}")
    for name, url in measurements():
        p50, p95, queries = measure(client, url, args.runs)
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {queries:8}")


if __name__ == "__main__":
    main()
