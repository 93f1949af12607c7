"""The caller in front of the operator (CONTRACT §9 `caller_history`): the same number's other
calls of the last 90 days and how many were pranks. A warning, never a block: a prank caller may
have a real emergency today."""

from datetime import timedelta

from django.db.models import Case, Count, F, Max, OuterRef, Q, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from calls.models import Call

HISTORY_DAYS = 90


def citizen_number(call):
    return call.to_number if call.direction == Call.Direction.OUTBOUND else call.from_number


def earlier_calls_of(number, but_not):
    """The same number's inbound calls of the last 90 days, except one call (a call's own
    history leaves the call out). `number` and `but_not` may be OuterRefs."""
    return Call.objects.filter(
        from_number=number,
        direction=Call.Direction.INBOUND,
        started_at__gte=timezone.now() - timedelta(days=HISTORY_DAYS),
    ).exclude(pk=but_not)


def caller_history(call):
    """The number's other calls of the last 90 days, and how many were pranks: a warning for
    the operator, never a block. Lists annotate it in one query (`with_caller_history`)."""
    if not hasattr(call, "history_calls"):
        summary = earlier_calls_of(citizen_number(call), call.pk).aggregate(
            calls=Count("id"),
            pranks=Count("id", filter=Q(classification=Call.Classification.PRANK)),
            last=Max("started_at"),
        )
        call.history_calls, call.history_pranks = summary["calls"], summary["pranks"]
        call.history_last = summary["last"]
    return {
        "calls": call.history_calls,
        "pranks": call.history_pranks,
        "last_call_at": call.history_last,
    }


def with_caller_history(queryset):
    others = earlier_calls_of(OuterRef("citizen"), OuterRef("pk")).order_by().values("from_number")

    def first_of(rows, expression):
        return Subquery(rows.annotate(value=expression).values("value")[:1])

    return queryset.annotate(
        citizen=Case(
            When(direction=Call.Direction.OUTBOUND, then=F("to_number")),
            default=F("from_number"),
        ),
        history_calls=Coalesce(first_of(others, Count("id")), 0),
        history_pranks=Coalesce(
            first_of(others.filter(classification=Call.Classification.PRANK), Count("id")), 0
        ),
        history_last=first_of(others, Max("started_at")),
    )
