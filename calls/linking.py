"""Calls and the incidents they report, when one emergency was opened twice (CONTRACT §10):
merging a duplicate into the incident it duplicates, or attaching a second caller to a known
incident. Here, above the incident domain, because the calls move with it."""

from django.db import transaction
from django.utils.timezone import now

from calls.intake import record_call_event
from calls.models import Call, Message
from dispatch import incidents


@transaction.atomic
def merge(incident_id, into_id, *, actor):
    """The duplicate's calls and texts move to the target and the duplicate is closed, in one
    transaction. Calls are locked before incidents, the order classification uses too."""
    calls = list(Call.objects.select_for_update().filter(incident_id=incident_id).order_by("pk"))
    moved = [call.pk for call in calls]
    # Moved before the incidents' events are written, so the target's event lists them; a
    # refused merge (409) rolls the move back with everything else.
    Call.objects.filter(pk__in=moved).update(incident_id=into_id, updated_at=now())
    texts = list(
        Message.objects.filter(incident_id=incident_id).order_by("pk").values_list("pk", flat=True)
    )
    target = incidents.merge(incident_id, into_id, actor=actor, calls=moved, messages=texts)
    for call in Call.objects.filter(pk__in=moved).order_by("pk"):
        record_call_event("call.updated", call, actor)
    # Under the incidents' locks, so a text that joined the duplicate just before moves too.
    Message.objects.filter(incident_id=incident_id).update(incident=target, updated_at=now())
    return target


@transaction.atomic
def link(call_id, incident_id, *, actor):
    """A second caller about a known incident: the call joins it. The incident the call opened
    for itself, if nothing but this call is in it, is merged into the known one; otherwise only
    the call moves. Returns the call."""
    call = Call.objects.select_for_update().get(pk=call_id)
    if call.incident_id == incident_id:
        return call
    own = call.incident_id
    if own is not None and not Call.objects.filter(incident_id=own).exclude(pk=call.pk).exists():
        merge(own, incident_id, actor=actor)
        return Call.objects.get(pk=call_id)
    # Moved first, so the incident's event lists the call (a 409 rolls it back).
    call.incident_id = incident_id
    call.save(update_fields=["incident", "updated_at"])
    call.messages.update(incident_id=incident_id, updated_at=now())  # an SMS call's own text
    incidents.attach_call(incident_id, call.pk, actor=actor)
    record_call_event("call.updated", call, actor)
    return call
