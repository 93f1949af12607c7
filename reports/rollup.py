"""The rollup task: tallies every hour that is over (reports.models.Tally), and tallies again
the hours a late change marked dirty. Run by the beat every minute, and by
`manage.py build_report_rollups` for the history a database already holds.

Safe to run twice at once (two beats, two workers): each step holds a transaction-level
advisory lock and reads the state under it; a second runner finds the lock taken and stops.
Idempotent: an hour's tally is replaced, never added to, and the cumulative tallies move by the
difference between the new tally and the one it replaces.

An hour is tallied only once no transaction that began before its end is still running: the
trigger (migration reports/0002) does not mark the current hour dirty, so a change made in it
must be committed, and seen, before the hour is tallied. A change to an hour that is over adds
a mark in its own transaction: the task deletes only the marks it sees, whose changes it then
sees too; a mark committed later keeps the hour live until the next run.
"""

from datetime import timedelta

from django.db import connection, transaction

from reports.tallies import DAY, HOUR, facts_sql, hours_align, merged, wib_midnight

# pg_try_advisory_xact_lock's key: "reports" in ASCII.
LOCK_KEY = 0x7265706F727473
# Hours tallied in one transaction when catching up on history.
CHUNK = timedelta(days=7)

# The end of the last hour no running transaction began before.
CLOSED_HOUR_SQL = """
SELECT date_trunc('hour', least(clock_timestamp(), (
    SELECT min(xact_start) FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND pid <> pg_backend_pid())), 'UTC')
"""
EARLIEST_FACT_SQL = """
SELECT least((SELECT min(started_at) FROM calls_call),
             (SELECT min(created_at) FROM dispatch_incident),
             (SELECT min(created_at) FROM dispatch_assignment))
"""


def refresh():
    """Tally all that is due; the number of hours tallied. Nothing where reports do not read
    tallies: on SQLite, in a time zone whose hours are not UTC hours."""
    if connection.vendor != "postgresql" or not hours_align():
        return 0
    tallied = 0
    while (step := refresh_step()) is not None:
        tallied += step
    return tallied


def refresh_step():
    """Tally the dirty hours and up to CHUNK of new ones, in one transaction; None when there
    was nothing to do or another runner holds the lock."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(CLOSED_HOUR_SQL)
        closed = cursor.fetchone()[0]
        origin, built = state(cursor, closed)
        until = max(built, min(closed, built + CHUNK))
        cursor.execute("DELETE FROM reports_dirtyhour WHERE hour < %s RETURNING hour", [until])
        stale = sorted({hour for (hour,) in cursor.fetchall() if origin <= hour < built})
        if not stale and built == until:
            return None
        tally(cursor, stale, origin, built, until)
        cursor.execute("UPDATE reports_rollupstate SET built_until = %s WHERE id = 1", [until])
        return len(stale) + int((until - built) / HOUR)


def state(cursor, closed):
    """(origin, built_until); the first time, from the WIB midnight before the oldest fact."""
    cursor.execute("SELECT origin, built_until FROM reports_rollupstate WHERE id = 1")
    row = cursor.fetchone()
    if row:
        return row
    cursor.execute(EARLIEST_FACT_SQL)
    origin = wib_midnight(cursor.fetchone()[0] or closed)
    cursor.execute(
        "INSERT INTO reports_rollupstate (id, origin, built_until) VALUES (1, %s, %s)",
        [origin, origin],
    )
    return origin, origin


def tally(cursor, stale, origin, built, until):
    """Tally again the `stale` hours and for the first time [built, until); move the cumulative
    tallies by what changed; add the cumulative tallies of the midnights in (built, until]."""
    facts, params = facts_sql(merged([(hour, hour + HOUR) for hour in stale] + [(built, until)]))
    cursor.execute(f"CREATE TEMPORARY TABLE reports_fresh ON COMMIT DROP AS {facts}", params)
    moved = {"stale": stale, "origin": origin, "built": built}
    cursor.execute(
        """
        CREATE TEMPORARY TABLE reports_moved ON COMMIT DROP AS
        SELECT hour, figure, key, value, sum(n) AS n FROM (
            SELECT hour, figure, key, value, n FROM reports_fresh WHERE hour < %(built)s
            UNION ALL
            SELECT start, figure, key, value, -n FROM reports_tally
            WHERE level = 'h' AND start = ANY(%(stale)s::timestamptz[])
        ) AS changes GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
        """,
        moved,
    )
    cursor.execute(
        "DELETE FROM reports_tally WHERE level = 'h' AND start = ANY(%s::timestamptz[])", [stale]
    )
    cursor.execute(
        "INSERT INTO reports_tally (level, start, figure, key, value, n)"
        " SELECT 'h', hour, figure, key, value, n FROM reports_fresh"
    )
    cursor.execute(
        """
        INSERT INTO reports_tally (level, start, figure, key, value, n)
        SELECT 'c', midnight, figure, key, value, sum(n)
        FROM reports_moved
        JOIN generate_series(%(origin)s, %(built)s, interval '1 day') AS midnight
          ON midnight > hour
        GROUP BY 2, 3, 4, 5
        ON CONFLICT (level, start, figure, key, value) DO UPDATE
        SET n = reports_tally.n + excluded.n
        """,
        moved,
    )
    cursor.execute("DROP TABLE reports_fresh, reports_moved")
    midnight = wib_midnight(built, later=True)
    if midnight == built:
        midnight += DAY
    while midnight <= until:
        add_cumulative(cursor, midnight)
        midnight += DAY


def add_cumulative(cursor, midnight):
    """The tallies before `midnight`: those before the previous one and the day's hours."""
    cursor.execute(
        """
        INSERT INTO reports_tally (level, start, figure, key, value, n)
        SELECT 'c', %(midnight)s, figure, key, value, sum(n) FROM (
            SELECT figure, key, value, n FROM reports_tally
            WHERE level = 'c' AND start = %(previous)s
            UNION ALL
            SELECT figure, key, value, n FROM reports_tally
            WHERE level = 'h' AND start >= %(previous)s AND start < %(midnight)s
        ) AS before GROUP BY 3, 4, 5 HAVING sum(n) <> 0
        """,
        {"midnight": midnight, "previous": midnight - DAY},
    )
