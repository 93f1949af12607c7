"""The report of a period (CONTRACT §11): what reached 112, how fast it was picked up, what
became of it and how fast the agencies acknowledged — over [since, until).

Every figure is an SQL aggregate over an indexed timestamp column (`Call.started_at`,
`Incident.created_at`, `Assignment.created_at`), so a report costs the same fixed number of
queries whatever the period holds. What each figure counts:

- calls: calls and texts *to* 112 that arrived in the period. A call is picked up when an
  operator claimed it and the caller did not hang up before being connected; `wait_seconds`
  runs from arrival to that pick-up (calls.answering). Call-backs the command centre placed are
  counted apart, as `callbacks`. NENA STA-020.1-2020 asks for 90 % of calls picked up within
  15 s and 95 % within 20 s: the shares are of every voice call that arrived, abandoned ones
  included.
- incidents: opened in the period, by category and by kecamatan (a kelurahan counts for its
  kecamatan). NFPA 1225 asks for 90 % dispatched within 60 s of the answer: `answer_to_dispatch`
  measures, for each incident whose first dispatch came after one of its voice calls was picked
  up, the time from the first pick-up to that dispatch.
- agencies: the assignments created in the period, and how fast they were acknowledged.
- by_hour: calls and incidents by hour of the day in the deployment's time zone (WIB), summed
  over the period.
"""

import math
from datetime import timedelta

from django.db import connection
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Min,
    Q,
)
from django.db.models.functions import Coalesce, ExtractHour
from django.utils import timezone

from agencies.models import Agency, Area, Category
from calls.models import Call
from dispatch.models import Incident
from reports.sql import PercentileCont, Tenths
from reports.tallies import UNCLASSIFIED_KEY, hours_align, period_facts

INBOUND = Q(direction=Call.Direction.INBOUND)
VOICE = INBOUND & Q(channel=Call.Channel.VOICE)
PICKED_UP = VOICE & Q(picked_up_at__isnull=False, abandoned=False)
NENA_SECONDS = (15, 20)
NFPA_DISPATCH = timedelta(seconds=60)
# The standards' goals, shown beside the shares: NENA STA-020.1 (90 % within 15 s, 95 % within
# 20 s) and NFPA 1225 (90 % dispatched within 60 s of answering).
GOALS = {"within_15s": 0.90, "within_20s": 0.95, "dispatch_60s": 0.90}
UNCLASSIFIED = "unclassified"


def summary(since, until):
    """The whole report as plain data: the contract's keys, then the extensions. On PostgreSQL
    from the rollups (reports.tallies: a fixed number of queries whatever the period); on
    SQLite, which has no rollups, from the rows."""
    if connection.vendor == "postgresql" and hours_align():
        return summary_from_tallies(since, until)
    return summary_from_rows(since, until)


def summary_from_rows(since, until):
    """Every figure aggregated from the period's rows: SQLite's report, and on PostgreSQL the
    reference the rollups are proven against (tests/reports/test_rollups.py)."""
    calls = Call.objects.filter(started_at__gte=since, started_at__lt=until)
    incidents = Incident.objects.filter(created_at__gte=since, created_at__lt=until)
    return {
        "period": period(since, until),
        "calls": calls_figures(calls),
        "incidents": incidents_figures(incidents),
        "agencies": agencies_figures(since, until),
        "by_hour": hourly_figures(calls, incidents),
    }


def summary_from_tallies(since, until):
    facts = Facts(*period_facts(since, until))
    return {
        "period": period(since, until),
        "calls": call_figures_of(facts.calls()),
        "incidents": facts.incidents(),
        "agencies": facts.agencies(),
        "by_hour": facts.by_hour(),
    }


def period(since, until):
    return {
        "since": timezone.localtime(since).isoformat(),
        "until": timezone.localtime(until).isoformat(),
        "time_zone": timezone.get_default_timezone_name(),
    }


def share(part, whole):
    return round(part / whole, 4) if whole else None


def seconds(tenths):
    """A duration measured in tenths of a second (reports.sql.Tenths), in seconds."""
    return None if tenths is None else round(tenths / 10, 1)


def within(limit):
    return f"picked_up_within_{limit}s"


def elapsed(start, end):
    """The time from one timestamp column to another, as a duration (NULL when either is)."""
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# --- calls ------------------------------------------------------------------------------------


def calls_figures(calls):
    counts = counts_of(
        calls,
        total=INBOUND,
        voice=VOICE,
        sms=INBOUND & Q(channel=Call.Channel.SMS),
        abandoned=VOICE & Q(abandoned=True),
        picked_up=PICKED_UP,
        **{within(limit): PICKED_UP & Q(wait_seconds__lte=limit) for limit in NENA_SECONDS},
        **{code: INBOUND & Q(classification=code) for code in Call.Classification.values},
        unclassified=INBOUND & Q(classification__isnull=True),
        callbacks=Q(direction=Call.Direction.OUTBOUND),
    )
    return call_figures_of(counts)


def call_figures_of(counts):
    """The calls' figures from their counts (named as calls_figures names them)."""
    classifications = [*Call.Classification.values, UNCLASSIFIED]
    return {
        **{key: counts[key] for key in ("total", "voice", "sms", "abandoned", "picked_up")},
        within(15): counts[within(15)],
        "by_classification": {code: counts[code] for code in classifications},
        within(20): counts[within(20)],
        **{
            f"share_{within(limit)}": share(counts[within(limit)], counts["voice"])
            for limit in NENA_SECONDS
        },
        "share_by_classification": {
            code: share(counts[code], counts["total"]) for code in classifications
        },
        "callbacks": counts["callbacks"],
    }


def counting(conditions):
    """A Count aggregate per condition. Named apart from the fields: an aggregate named
    `abandoned` would stand for the field `abandoned` in the filters themselves."""
    return {f"n_{name}": Count("id", filter=condition) for name, condition in conditions.items()}


def counted(row, conditions):
    return {name: row[f"n_{name}"] for name in conditions}


def counts_of(rows, **conditions):
    """`{name: how many rows meet the condition}`, in one query."""
    return counted(rows.aggregate(**counting(conditions)), conditions)


# --- incidents --------------------------------------------------------------------------------


def incidents_figures(incidents):
    counts = counts_of(
        incidents,
        total=Q(),
        no_category=Q(category__isnull=True),
        no_area=Q(area__isnull=True),
        dispatched=Q(dispatched_at__isnull=False),
    )
    kecamatan = Coalesce("area__parent__code", "area__code")
    return {
        "total": counts["total"],
        "by_category": counted_by(
            incidents.filter(category__isnull=False),
            F("category__code"),
            Category.objects.values_list("code", flat=True),
        ),
        "by_kecamatan": counted_by(
            incidents.filter(area__isnull=False),
            kecamatan,
            Area.objects.filter(kind=Area.Kind.KECAMATAN).values_list("code", flat=True),
        ),
        "no_category": counts["no_category"],
        "no_area": counts["no_area"],
        "dispatched": counts["dispatched"],
        "answer_to_dispatch": answer_to_dispatch(incidents),
    }


def counted_by(rows, key, codes):
    """`{code: n}` for every code in `codes` (zeros included), counting `rows` by `key`."""
    counts = dict(
        rows.annotate(key=key).values("key").annotate(n=Count("id")).values_list("key", "n")
    )
    return {code: counts.get(code, 0) for code in codes}


def answer_to_dispatch(incidents):
    """NFPA 1225's alarm processing time: from the first pick-up of an incident's voice calls to
    its first dispatch. An incident dispatched before any of its calls was picked up (opened by
    a text, say) has no such time and is left out."""
    dispatched = incidents.filter(dispatched_at__isnull=False)
    per_incident = (
        Call.objects.filter(PICKED_UP, incident__in=dispatched)
        .values("incident")
        .annotate(answered=Min("picked_up_at"), dispatched=Min("incident__dispatched_at"))
        .filter(answered__lte=F("dispatched"))
        .annotate(processing=elapsed("answered", "dispatched"))
        .order_by()
    )
    figures = per_incident.aggregate(
        incidents=Count("incident"),
        within_60s=Count("incident", filter=Q(processing__lte=NFPA_DISPATCH)),
        median=PercentileCont(Tenths("processing"), 0.5),
        p90=PercentileCont(Tenths("processing"), 0.9),
    )
    return answer_to_dispatch_of(**figures)


def answer_to_dispatch_of(incidents, within_60s, median, p90):
    return {
        "incidents": incidents,
        "within_60s": within_60s,
        "share_within_60s": share(within_60s, incidents),
        "seconds_median": seconds(median),
        "seconds_p90": seconds(p90),
    }


# --- agencies ---------------------------------------------------------------------------------


def agencies_figures(since, until):
    """One row per agency that is active or had an assignment in the period, by code."""
    in_period = Q(assignments__created_at__gte=since, assignments__created_at__lt=until)
    time_to_acknowledge = Tenths(elapsed("recent__created_at", "recent__acknowledged_at"))
    rows = (
        Agency.objects.annotate(recent=FilteredRelation("assignments", condition=in_period))
        .annotate(
            assignment_count=Count("recent"),
            acknowledged=Count("recent", filter=Q(recent__acknowledged_at__isnull=False)),
            escalated=Count("recent", filter=Q(recent__escalation_level__gt=0)),
            ack_median=PercentileCont(time_to_acknowledge, 0.5),
            ack_p90=PercentileCont(time_to_acknowledge, 0.9),
        )
        .filter(Q(is_active=True) | Q(assignment_count__gt=0))
        .order_by("code")
    )
    return [
        agency_figures_of(
            agency.code,
            agency.assignment_count,
            agency.acknowledged,
            agency.escalated,
            agency.ack_median,
            agency.ack_p90,
        )
        for agency in rows
    ]


def agency_figures_of(code, assignments, acknowledged, escalated, ack_median, ack_p90):
    return {
        "code": code,
        "assignments": assignments,
        "acknowledged": acknowledged,
        "ack_seconds_median": seconds(ack_median),
        "escalated": escalated,
        "ack_seconds_p90": seconds(ack_p90),
    }


# --- by hour of the day -----------------------------------------------------------------------


def hourly_figures(calls, incidents):
    """Per hour of the day (0–23, the deployment's time zone), summed over the period."""
    calls_by_hour = counts_by_hour(
        calls,
        "started_at",
        calls=INBOUND,
        voice=VOICE,
        **{within(15): PICKED_UP & Q(wait_seconds__lte=15)},
    )
    incidents_by_hour = counts_by_hour(incidents, "created_at", incidents=Q())
    return [{"hour": hour, **calls_by_hour[hour], **incidents_by_hour[hour]} for hour in range(24)]


def counts_by_hour(rows, timestamp, **conditions):
    """`{hour: {name: how many rows of that hour meet the condition}}` for every hour of the
    day, in one query."""
    hour = ExtractHour(timestamp, tzinfo=timezone.get_default_timezone())
    grouped = rows.annotate(hour=hour).values("hour").annotate(**counting(conditions)).order_by()
    found = {row["hour"]: counted(row, conditions) for row in grouped}
    return {hour: found.get(hour, dict.fromkeys(conditions, 0)) for hour in range(24)}


# --- from the rollups -------------------------------------------------------------------------


class Facts:
    """The figures of `{(figure, key, value): n}` and the names of their keys
    (reports.tallies.period_facts), the same as the rows give."""

    def __init__(self, counted, names):
        self.counted = counted
        self.names = names

    def count(self, figure, key=""):
        return self.counted.get((figure, key, 0), 0)

    def histogram(self, figure, key=""):
        """`[(value, n)]` by value."""
        return sorted(
            (value, n)
            for (counted_figure, counted_key, value), n in self.counted.items()
            if counted_figure == figure and counted_key == key
        )

    def calls(self):
        names = ("total", "voice", "sms", "abandoned", "picked_up", "callbacks")
        return {
            **{name: self.count(f"calls.{name}") for name in names},
            **{within(limit): self.count(f"calls.within_{limit}") for limit in NENA_SECONDS},
            **{
                code: self.count("calls.classification", code)
                for code in Call.Classification.values
            },
            UNCLASSIFIED: self.count("calls.classification", UNCLASSIFIED_KEY),
        }

    def incidents(self):
        return {
            "total": self.count("incidents.total"),
            "by_category": {
                code: self.count("incidents.category", str(pk))
                for pk, code in self.names.categories
            },
            "by_kecamatan": self.by_kecamatan(),
            "no_category": self.count("incidents.no_category"),
            "no_area": self.count("incidents.no_area"),
            "dispatched": self.count("incidents.dispatched"),
            "answer_to_dispatch": self.answer_to_dispatch(),
        }

    def by_kecamatan(self):
        areas = self.names.areas
        counts = {code: 0 for _pk, code, kind, _parent in areas if kind == Area.Kind.KECAMATAN}
        for pk, code, _kind, parent in areas:
            kecamatan = parent or code
            if kecamatan in counts:
                counts[kecamatan] += self.count("incidents.area", str(pk))
        return counts

    def answer_to_dispatch(self):
        times = self.histogram("dispatch.answered")
        return answer_to_dispatch_of(
            incidents=sum(n for _value, n in times),
            within_60s=self.count("dispatch.within_60"),
            median=percentile_cont(times, 0.5),
            p90=percentile_cont(times, 0.9),
        )

    def agencies(self):
        rows = []
        for pk, code, is_active in self.names.agencies:
            assignments = self.count("agency.assignments", str(pk))
            if is_active or assignments:
                times = self.histogram("agency.ack", str(pk))
                rows.append(
                    agency_figures_of(
                        code,
                        assignments,
                        self.count("agency.acknowledged", str(pk)),
                        self.count("agency.escalated", str(pk)),
                        percentile_cont(times, 0.5),
                        percentile_cont(times, 0.9),
                    )
                )
        return rows

    def by_hour(self):
        return [
            {
                "hour": hour,
                "calls": self.count("hour.calls", str(hour)),
                "voice": self.count("hour.voice", str(hour)),
                within(15): self.count("hour.within_15", str(hour)),
                "incidents": self.count("hour.incidents", str(hour)),
            }
            for hour in range(24)
        ]


def percentile_cont(histogram, fraction):
    """PostgreSQL's `percentile_cont(fraction)` over the values of `histogram` (`[(value, n)]`
    by value), with its very float arithmetic: the same result to the last bit."""
    total = sum(n for _value, n in histogram)
    if not total:
        return None
    position = fraction * (total - 1)
    first, second = math.floor(position), math.ceil(position)
    low = float(nth_value(histogram, first))
    if first == second:
        return low
    high = float(nth_value(histogram, second))
    return low + (high - low) * (position - first)


def nth_value(histogram, rank):
    """The value at `rank` (from 0) of the values in order."""
    for value, n in histogram:
        if rank < n:
            return value
        rank -= n
    raise IndexError(rank)
