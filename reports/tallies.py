"""The facts a report adds up, in SQL (PostgreSQL), and how a period's facts are read: from the
rollups (reports.models.Tally) where they are tallied and still true, from the rows themselves
elsewhere.

A fact is `(figure, key, value)`: e.g. `("calls.within_15", "", 0)` for a call picked up within
15 s, `("incidents.area", "<area id>", 0)` for an incident in that area, `("agency.ack",
"<agency id>", 42)` for an assignment acknowledged 4.2 s after it was created. A report is the
number of each fact over its period (reports.summary turns them into figures): so a period's
facts are the sum of its hours', and the facts of whole WIB days the difference of two
cumulative tallies, whatever the period's length.

Which facts are read live, which from the tallies (`sources`):
- the partial hours at either end of the period (WIB hours are UTC hours: UTC+7, no DST);
- every hour not yet tallied (before `origin`, from `built_until` on: the current hour, the
  ones the rollup task has not reached);
- every hour a late change marked dirty (reports.models.DirtyHour): its stale tally is
  subtracted, its rows counted instead.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from calls.models import Call

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FACT_PARAMS = {
    "inbound": Call.Direction.INBOUND,
    "outbound": Call.Direction.OUTBOUND,
    "voice": Call.Channel.VOICE,
    "sms": Call.Channel.SMS,
}
# A call with no classification; no classification is spelt so.
UNCLASSIFIED_KEY = "-"

# A duration in tenths of a second, the precision the report shows (reports.sql.Tenths).
TENTHS = "round(extract(epoch FROM {}) * 10)::bigint"
HOUR_OF_DAY = "extract(hour FROM {} AT TIME ZONE %(time_zone)s)::int::text"

CALL_FACTS = f"""
SELECT date_trunc('hour', c.started_at, 'UTC') AS hour, f.figure, f.key, 0::bigint AS value,
       count(*) AS n
FROM calls_call c
CROSS JOIN LATERAL (SELECT c.direction = %(inbound)s AS inbound,
                           c.direction = %(inbound)s AND c.channel = %(voice)s AS voice,
                           {HOUR_OF_DAY.format("c.started_at")} AS hour_of_day) d
CROSS JOIN LATERAL (SELECT d.voice AND c.picked_up_at IS NOT NULL AND NOT c.abandoned
                           AS picked_up) p
CROSS JOIN LATERAL (VALUES
    ('calls.total', '', d.inbound),
    ('calls.voice', '', d.voice),
    ('calls.sms', '', d.inbound AND c.channel = %(sms)s),
    ('calls.abandoned', '', d.voice AND c.abandoned),
    ('calls.picked_up', '', p.picked_up),
    ('calls.within_15', '', p.picked_up AND c.wait_seconds <= 15),
    ('calls.within_20', '', p.picked_up AND c.wait_seconds <= 20),
    ('calls.classification', coalesce(c.classification, '{UNCLASSIFIED_KEY}'), d.inbound),
    ('calls.callbacks', '', c.direction = %(outbound)s),
    ('hour.calls', d.hour_of_day, d.inbound),
    ('hour.voice', d.hour_of_day, d.voice),
    ('hour.within_15', d.hour_of_day, p.picked_up AND c.wait_seconds <= 15)
) AS f(figure, key, counted)
WHERE ({{calls_in}}) AND f.counted
GROUP BY 1, 2, 3
"""  # noqa: S608 (constants; the values are parameters)

# Answer to dispatch (NFPA 1225): from the first pick-up of the incident's voice calls, if that
# came no later than its dispatch.
INCIDENT_FACTS = f"""
SELECT date_trunc('hour', i.created_at, 'UTC') AS hour, f.figure, f.key, f.value,
       count(*) AS n
FROM dispatch_incident i
LEFT JOIN LATERAL (
    SELECT i.dispatched_at - min(c.picked_up_at) AS processing
    FROM calls_call c
    WHERE c.incident_id = i.id AND c.direction = %(inbound)s AND c.channel = %(voice)s
      AND c.picked_up_at IS NOT NULL AND NOT c.abandoned
    HAVING min(c.picked_up_at) <= i.dispatched_at
) a ON i.dispatched_at IS NOT NULL
CROSS JOIN LATERAL (VALUES
    ('incidents.total', '', 0::bigint, true),
    ('incidents.category', coalesce(i.category_id::text, ''), 0, i.category_id IS NOT NULL),
    ('incidents.area', coalesce(i.area_id::text, ''), 0, i.area_id IS NOT NULL),
    ('incidents.no_category', '', 0, i.category_id IS NULL),
    ('incidents.no_area', '', 0, i.area_id IS NULL),
    ('incidents.dispatched', '', 0, i.dispatched_at IS NOT NULL),
    ('hour.incidents', {HOUR_OF_DAY.format("i.created_at")}, 0, true),
    ('dispatch.answered', '', {TENTHS.format("a.processing")}, a.processing IS NOT NULL),
    ('dispatch.within_60', '', 0, a.processing <= interval '60 seconds')
) AS f(figure, key, value, counted)
WHERE ({{incidents_in}}) AND f.counted
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 (constants; the values are parameters)

ASSIGNMENT_FACTS = f"""
SELECT date_trunc('hour', a.created_at, 'UTC') AS hour, f.figure, a.agency_id::text AS key,
       f.value, count(*) AS n
FROM dispatch_assignment a
CROSS JOIN LATERAL (VALUES
    ('agency.assignments', 0::bigint, true),
    ('agency.acknowledged', 0, a.acknowledged_at IS NOT NULL),
    ('agency.escalated', 0, a.escalation_level > 0),
    ('agency.ack', {TENTHS.format("a.acknowledged_at - a.created_at")},
     a.acknowledged_at IS NOT NULL)
) AS f(figure, value, counted)
WHERE ({{assignments_in}}) AND f.counted
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 (constants; the values are parameters)


def facts_sql(intervals):
    """`(hour, figure, key, value, n)` of the rows whose time falls in one of `intervals`
    (`[(start, end)]`), and the SQL's parameters."""
    params = {**FACT_PARAMS, "time_zone": timezone.get_default_timezone_name()}
    for number, (start, end) in enumerate(intervals):
        params[f"from_{number}"], params[f"to_{number}"] = start, end

    def within(column):
        return (
            " OR ".join(
                f"({column} >= %(from_{number})s AND {column} < %(to_{number})s)"
                for number in range(len(intervals))
            )
            or "false"
        )

    sql = "\nUNION ALL\n".join(
        [
            CALL_FACTS.format(calls_in=within("c.started_at")),
            INCIDENT_FACTS.format(incidents_in=within("i.created_at")),
            ASSIGNMENT_FACTS.format(assignments_in=within("a.created_at")),
        ]
    )
    return sql, params


# --- a period's sources -----------------------------------------------------------------------


def hours_align():
    """Whether the deployment's hours are UTC hours and its days 24 of them (WIB, WITA, WIT: a
    whole number of hours from UTC, no daylight saving time), as the tallies assume."""
    zone = timezone.get_default_timezone()
    offsets = {zone.utcoffset(datetime(2026, month, 1)) for month in (1, 4, 7, 10)}
    return len(offsets) == 1 and offsets.pop() % HOUR == timedelta(0)


def floor_hour(at):
    return at.replace(minute=0, second=0, microsecond=0)


def ceil_hour(at):
    floor = floor_hour(at)
    return floor if floor == at else floor + HOUR


def wib_midnight(at, later=False):
    """The WIB midnight at or before `at` (at or after it with `later`), as an aware instant."""
    local = timezone.localtime(at)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if later and midnight != local:
        midnight = timezone.make_aware(datetime.combine(midnight.date() + DAY, datetime.min.time()))
    return midnight


@dataclass
class Sources:
    """Where the facts of [since, until) are read."""

    live: list = field(default_factory=list)  # [(start, end)] read from the rows
    hours: list = field(default_factory=list)  # [(start, end)] of tallied hours to add
    stale: list = field(default_factory=list)  # dirty hours: their tallies subtracted
    before: tuple = ()  # (later midnight, earlier midnight): cumulative tallies' difference


def sources(since, until, origin, built_until, dirty):
    """`origin`, `built_until`: reports.models.RollupState (None: nothing tallied); `dirty`:
    the dirty hours within the period's whole hours."""
    whole_from, whole_to = ceil_hour(since), floor_hour(until)
    if whole_from >= whole_to or origin is None:
        return Sources(live=[(since, until)])
    found = Sources(live=[(since, whole_from), (whole_to, until)])
    tallied_from, tallied_to = max(whole_from, origin), min(whole_to, built_until)
    if tallied_from >= tallied_to:
        found.live.append((whole_from, whole_to))
        return Sources(live=merged(found.live))
    found.live += [(whole_from, tallied_from), (tallied_to, whole_to)]
    found.stale = [hour for hour in dirty if tallied_from <= hour < tallied_to]
    found.live += [(hour, hour + HOUR) for hour in found.stale]
    first_midnight, last_midnight = wib_midnight(tallied_from, later=True), wib_midnight(tallied_to)
    if first_midnight < last_midnight:
        found.before = (last_midnight, first_midnight)
        found.hours = [(tallied_from, first_midnight), (last_midnight, tallied_to)]
    else:
        found.hours = [(tallied_from, tallied_to)]
    found.live = merged(found.live)
    found.hours = [(start, end) for start, end in found.hours if start < end]
    return found


def merged(intervals):
    """The same instants as `intervals`, in as few non-empty intervals as possible."""
    result = []
    for start, end in sorted(interval for interval in intervals if interval[0] < interval[1]):
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(end, result[-1][1]))
        else:
            result.append((start, end))
    return result


# --- reading ----------------------------------------------------------------------------------

# The state of the rollups, the dirty hours of the period, and the names the figures are by
# (ordered as their models are), in one round trip.
STATE_SQL = """
SELECT s.origin, s.built_until,
       array(SELECT DISTINCT hour FROM reports_dirtyhour
             WHERE hour >= %s AND hour < %s ORDER BY hour),
       (SELECT json_agg(json_build_array(id, code) ORDER BY code) FROM agencies_category),
       (SELECT json_agg(json_build_array(area.id, area.code, area.kind, parent.code)
                        ORDER BY area.code)
        FROM agencies_area area LEFT JOIN agencies_area parent ON parent.id = area.parent_id),
       (SELECT json_agg(json_build_array(id, code, is_active) ORDER BY code)
        FROM agencies_agency)
FROM (SELECT 1) AS one LEFT JOIN reports_rollupstate s ON s.id = 1
"""


@dataclass
class Names:
    """What the facts' keys stand for: `[(id, code)]` of the categories, `[(id, code, kind,
    parent's code)]` of the areas, `[(id, code, is_active)]` of the agencies, by code."""

    categories: list
    areas: list
    agencies: list


def period_facts(since, until):
    """`({(figure, key, value): n}, Names)` over [since, until), in two queries."""
    with connection.cursor() as cursor:
        cursor.execute(STATE_SQL, [ceil_hour(since), floor_hour(until)])
        origin, built_until, dirty, *names = cursor.fetchone()
        found = sources(since, until, origin, built_until, dirty)
        sql, params = summed_sql(found)
        cursor.execute(sql, params)
        facts = {(figure, key, value): n for figure, key, value, n in cursor.fetchall()}
    return facts, Names(*(decoded(rows) for rows in names))


def decoded(rows):
    """A json_agg: None when the table is empty; text or lists, as the driver hands it."""
    rows = json.loads(rows) if isinstance(rows, str) else rows
    return [tuple(row) for row in rows or []]


def summed_sql(found):
    live, params = facts_sql(found.live)
    parts = [f"SELECT figure, key, value, n FROM ({live}) AS live"]  # noqa: S608 (ours)
    for number, (start, end) in enumerate(found.hours):
        params[f"hours_from_{number}"], params[f"hours_to_{number}"] = start, end
        parts.append(
            "SELECT figure, key, value, n FROM reports_tally WHERE level = 'h'"  # noqa: S608
            f" AND start >= %(hours_from_{number})s AND start < %(hours_to_{number})s"
        )
    if found.stale:
        params["stale"] = found.stale
        parts.append(
            "SELECT figure, key, value, -n FROM reports_tally"
            " WHERE level = 'h' AND start = ANY(%(stale)s::timestamptz[])"
        )
    if found.before:
        params["later_midnight"], params["earlier_midnight"] = found.before
        parts.append(
            "SELECT figure, key, value, n FROM reports_tally"
            " WHERE level = 'c' AND start = %(later_midnight)s"
            " UNION ALL SELECT figure, key, value, -n FROM reports_tally"
            " WHERE level = 'c' AND start = %(earlier_midnight)s"
        )
    union = "\nUNION ALL\n".join(parts)
    sql = (
        f"SELECT figure, key, value, sum(n)::bigint FROM ({union}) AS facts"  # noqa: S608
        " GROUP BY 1, 2, 3 HAVING sum(n) <> 0"
    )
    return sql, params
