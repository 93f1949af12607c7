"""Calls and the incidents they report, when one emergency was opened twice (CONTRACT §10):
merging a duplicate into the incident it duplicates. Here, above the incident domain, because
the calls move with it."""

from django.db import transaction

from calls.intake import record_call_event
from calls.models import Call
from dispatch import incidents


@transaction.atomic
def merge(incident_id, into_id, *, actor):
    """The duplicate's calls move to the target and the duplicate is closed, in one
    transaction. Calls are locked before incidents, the order classification uses too."""
    calls = list(Call.objects.select_for_update().filter(incident_id=incident_id).order_by("pk"))
    target = incidents.merge(incident_id, into_id, actor=actor, calls=[c.pk for c in calls])
    for call in calls:
        call.incident = target
        call.save(update_fields=["incident", "updated_at"])
        record_call_event("call.updated", call, actor)
    return target
