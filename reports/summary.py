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

from datetime import timedelta

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
from reports.sql import PercentileCont

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
    """The whole report as plain data: the contract's keys, then the extensions."""
    calls = Call.objects.filter(started_at__gte=since, started_at__lt=until)
    incidents = Incident.objects.filter(created_at__gte=since, created_at__lt=until)
    return {
        "period": period(since, until),
        "calls": calls_figures(calls),
        "incidents": incidents_figures(incidents),
        "agencies": agencies_figures(since, until),
        "by_hour": hourly_figures(calls, incidents),
    }


def period(since, until):
    return {
        "since": timezone.localtime(since).isoformat(),
        "until": timezone.localtime(until).isoformat(),
        "time_zone": timezone.get_default_timezone_name(),
    }


def share(part, whole):
    return round(part / whole, 4) if whole else None


def seconds(duration):
    return None if duration is None else round(duration.total_seconds(), 1)


def within(limit):
    return f"picked_up_within_{limit}s"


def elapsed(start, end):
    """The time from one timestamp column to another, as a duration (NULL when either is)."""
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# --- calls ------------------------------------------------------------------------------------


def calls_figures(calls):
    classifications = [*Call.Classification.values, UNCLASSIFIED]
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
        median=PercentileCont("processing", 0.5),
        p90=PercentileCont("processing", 0.9),
    )
    return {
        "incidents": figures["incidents"],
        "within_60s": figures["within_60s"],
        "share_within_60s": share(figures["within_60s"], figures["incidents"]),
        "seconds_median": seconds(figures["median"]),
        "seconds_p90": seconds(figures["p90"]),
    }


# --- agencies ---------------------------------------------------------------------------------


def agencies_figures(since, until):
    """One row per agency that is active or had an assignment in the period, by code."""
    in_period = Q(assignments__created_at__gte=since, assignments__created_at__lt=until)
    time_to_acknowledge = elapsed("recent__created_at", "recent__acknowledged_at")
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
        {
            "code": agency.code,
            "assignments": agency.assignment_count,
            "acknowledged": agency.acknowledged,
            "ack_seconds_median": seconds(agency.ack_median),
            "escalated": agency.escalated,
            "ack_seconds_p90": seconds(agency.ack_p90),
        }
        for agency in rows
    ]


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
