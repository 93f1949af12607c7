"""What can happen to an incident and its assignments. Every change is one transaction that
also appends its timeline event; the event is published after commit (see `events`).

Lock order, to keep concurrent requests from deadlocking: the incident row first, then its
assignments.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch import events, references, routing
from dispatch.models import Assignment, Incident, IncidentEvent, ReferenceCounter
from dispatch.payloads import AssignmentSerializer, IncidentSummarySerializer
from dispatch.raw_inserts import fetch_one, insert_columns, mark_saved
from dispatch.serialized import serialized

Status = Incident.Status
AStatus = Assignment.Status


class Conflict(Exception):
    """The request is valid but the state no longer allows it (answered with 409)."""


def incident_data(incident):
    return {"incident": IncidentSummarySerializer(incident).data}


def assignment_data(assignment):
    return {"assignment": AssignmentSerializer(assignment).data}


def record_incident_event(event_type, incident, actor=None, **extra):
    return events.record(
        event_type, incident=incident, actor=actor, data={**incident_data(incident), **extra}
    )


def record_assignment_event(event_type, assignment, actor=None, **extra):
    return events.record(
        event_type,
        incident=assignment.incident,
        agency=assignment.agency,
        actor=actor,
        data={**assignment_data(assignment), **extra},
    )


def new_incident_event(incident, *, calls):
    """The `incident.created` draft of an incident saved with these calls (`events.draft`),
    its payload built from them: the shape `record_incident_event` writes, without asking the
    database for the incident's calls."""
    linked = incident.calls.all()
    linked._result_cache, linked._prefetch_done = list(calls), True
    incident._prefetched_objects_cache = {"calls": linked}
    try:
        data = {"incident": serialized(IncidentSummarySerializer, incident)}
    finally:
        del incident._prefetched_objects_cache
    event = events.draft("incident.created", incident=incident, data=data)
    event.incident_is_new = True  # no assignment to look up for its audience
    return event


def open_numbered_incident(incident, *, calls, then=()):
    """Insert a new incident — its id already drawn from its sequence — with the day's next
    reference, its `incident.created` naming `calls`, and the event drafts `then`, in one
    statement (PostgreSQL). Make it the transaction's last: the day's counter row stays
    locked from here to the commit, and concurrent intakes queue on it. (The voice webhook's
    fast lane sends the COMMIT with this statement: `loop_database.Statements`.)"""
    sql, params, drafts = numbered_incident_statement(incident, calls=calls, then=then)
    numbered_incident_written(incident, drafts, fetch_one(sql, params))
    events.publish_after_commit(drafts)
    return incident


def numbered_incident_statement(incident, *, calls, then=()):
    """`open_numbered_incident`'s statement and its parameters, and the event drafts it
    writes, for a caller that runs it itself (`numbered_incident_written` then takes its row)."""
    day = timezone.localdate()
    columns, values = insert_columns(incident, skip=("id", "reference"))
    drafts = [new_incident_event(incident, calls=calls), *then]
    rows = [insert_columns(draft, skip=("id", "seq")) for draft in drafts]
    event_columns = rows[0][0]
    placeholders = ["%s"] * len(event_columns)
    first_row = list(placeholders)
    first_row[event_columns.index(connection.ops.quote_name("data"))] = REFERENCE_INTO_PAYLOAD
    event_rows = [first_row] + [placeholders] * (len(drafts) - 1)
    event_values = [value for _columns, row in rows for value in row]
    sql = OPEN_NUMBERED_INCIDENT_SQL.format(
        counter_table=ReferenceCounter._meta.db_table,
        incident_table=Incident._meta.db_table,
        columns=", ".join(columns),
        values=", ".join(["%s"] * len(columns)),
        numbered_reference=references.NUMBERED_REFERENCE_SQL.format(number="counter.last"),
        event_table=IncidentEvent._meta.db_table,
        event_columns=", ".join(event_columns),
        event_rows=", ".join(f"({', '.join(row)})" for row in event_rows),
    )
    params = [day, incident.id, references.prefix_of(day), *values, *event_values]
    return sql, params, drafts


def numbered_incident_written(incident, drafts, row):
    """The incident and its drafts as `numbered_incident_statement`'s row says they were
    written: the reference drawn, the events' ids."""
    incident.reference, event_ids = row
    drafts[0].data["incident"]["reference"] = incident.reference
    for draft, event_id in zip(drafts, event_ids, strict=True):
        draft.id = event_id
    mark_saved(incident, *drafts)


# `incident.created`'s payload was built before the reference was drawn: the statement puts it in.
REFERENCE_INTO_PAYLOAD = (
    "jsonb_set(%s::jsonb, '{incident,reference}', to_jsonb((SELECT reference FROM incident)))"
)

OPEN_NUMBERED_INCIDENT_SQL = """
WITH counter AS (
    INSERT INTO {counter_table} (day, last) VALUES (%s, 1)
    ON CONFLICT (day) DO UPDATE SET last = {counter_table}.last + 1
    RETURNING last
), incident AS (
    INSERT INTO {incident_table} (id, reference, {columns})
    SELECT %s, %s || {numbered_reference}, {values} FROM counter
    RETURNING reference
), event AS (
    INSERT INTO {event_table} ({event_columns}) VALUES {event_rows}
    RETURNING id
)
SELECT incident.reference, ARRAY(SELECT id FROM event ORDER BY id) FROM incident
"""


def open_incident(*, actor=None, call=None, **fields):
    """Create an incident with a fresh reference, for the call that reported it if any (linked
    before the event is written, so `incident.created` names its call). Call inside a
    transaction."""
    if fields.get("category") is not None and fields.get("priority") is None:
        fields["priority"] = fields["category"].default_priority
    incident = Incident.objects.create(
        reference=references.next_reference(), created_by=actor, **fields
    )
    if call is not None:
        call.incident = incident
        call.save(update_fields=["incident", "updated_at"])
    record_incident_event("incident.created", incident, actor)
    return incident


def create_incident(*, actor, **fields):
    if fields.get("latitude") is not None:
        fields["location_source"] = Incident.LocationSource.OPERATOR
    with transaction.atomic():
        return open_incident(actor=actor, **fields)


def locked_incident(incident_id):
    return Incident.objects.select_for_update().get(pk=incident_id)


@transaction.atomic
def update_incident(incident_id, *, actor, **changes):
    """Apply an operator's edit. A status in `changes` goes through `change_status`, with the
    close reason that may come with it."""
    incident = locked_incident(incident_id)
    new_status = changes.pop("status", None)
    close_reason = changes.pop("close_reason", "")
    if changes.get("category") and "priority" not in changes and incident.priority is None:
        changes["priority"] = changes["category"].default_priority
    changed = [name for name, value in changes.items() if getattr(incident, name) != value]
    for name in changed:
        setattr(incident, name, changes[name])
    if {"latitude", "longitude"} & set(changed):
        # Derived, so not in `changed` (what the operator edited); the event carries it.
        mark_operator_position(incident)
    if changed:
        incident.save()
        record_incident_event("incident.updated", incident, actor, changed=sorted(changed))
    if new_status is not None and new_status != incident.status:
        change_status(incident, new_status, actor, close_reason=close_reason)
    return incident


def mark_operator_position(incident):
    """The operator placed (or cleared) the incident by hand: their coordinates come with no
    known accuracy, and no handset location replaces them from now on."""
    source = Incident.LocationSource.OPERATOR if incident.latitude is not None else ""
    set_fields(incident, {"location_source": source, "location_accuracy_m": None})


def set_fields(incident, changes):
    changed = [name for name, value in changes.items() if getattr(incident, name) != value]
    for name in changed:
        setattr(incident, name, changes[name])
    return changed


def set_handset_location(incident, *, latitude, longitude, accuracy_m, at, method):
    """A position the caller's handset sent (AML) for the incident, locked by the caller.

    It is always kept in the `aml_*` fields. It becomes the incident's position only when
    there is none yet or the one there came from an earlier AML: an operator's own coordinates
    are kept. A fix older than the one already held changes nothing (texts arrive out of
    order). Returns the names of the fields that changed; their `incident.updated` is written."""
    if incident.aml_at is not None and at <= incident.aml_at:
        return []
    changes = {
        "aml_latitude": latitude,
        "aml_longitude": longitude,
        "aml_accuracy_m": accuracy_m,
        "aml_at": at,
        "aml_method": method or "",
    }
    if incident.latitude is None or incident.location_source == Incident.LocationSource.AML:
        changes.update(
            latitude=latitude,
            longitude=longitude,
            location_accuracy_m=accuracy_m,
            location_source=Incident.LocationSource.AML,
        )
    changed = set_fields(incident, changes)
    if changed:
        incident.save()
        record_incident_event("incident.updated", incident, None, changed=sorted(changed))
    return changed


# Which statuses an operator may set by hand, from which.
MANUAL_TRANSITIONS = {
    Status.RESOLVED: set(Incident.OPEN_STATUSES),
    Status.CANCELLED: set(Incident.OPEN_STATUSES),
    Status.CLOSED: {*Incident.OPEN_STATUSES, Status.RESOLVED},
    Status.NEW: {Status.RESOLVED, Status.CLOSED, Status.CANCELLED},  # reopen
}


def change_status(incident, new_status, actor, close_reason=""):
    """An operator resolves, closes, cancels or reopens an incident (locked by the caller).
    Pending assignments are withdrawn so their escalation stops; cancelling withdraws all.
    Closing records `close_reason` (blank: not given); any other status clears it, so a
    reopened incident carries no stale reason (the timeline keeps the old one)."""
    if incident.status not in MANUAL_TRANSITIONS.get(new_status, set()):
        raise Conflict(
            _("An incident cannot go from %(old)s to %(new)s.")
            % {"old": Status(incident.status).label, "new": Status(new_status).label}
        )
    withdraw = Assignment.ACTIVE_STATUSES if new_status == Status.CANCELLED else (AStatus.PENDING,)
    for assignment in incident.assignments.select_for_update().filter(status__in=withdraw):
        assignment.incident = incident
        cancel_assignment(assignment, actor)
    incident.status = new_status
    incident.resolved_at = timezone.now() if new_status == Status.RESOLVED else None
    incident.close_reason = close_reason if new_status == Status.CLOSED else ""
    incident.save()
    record_incident_event(f"incident.{new_status}", incident, actor)


def merge(incident_id, into_id, *, actor, calls=(), messages=()):
    """Close a duplicate into the incident it duplicates (CONTRACT §10): its open assignments
    are cancelled (each agency hears it) and it is closed with `merged_into`. Call inside a
    transaction (`calls.linking.merge` moves the calls and texts in the same one). Both
    incidents are locked in id order, so two operators merging the same pair either way at once
    cannot deadlock, and the second finds the first's result (409). Returns the target."""
    if incident_id == into_id:
        raise Conflict(_("An incident cannot be merged into itself."))
    locked = {
        incident.pk: incident
        for incident in Incident.objects.select_for_update()
        .filter(pk__in=[incident_id, into_id])
        .order_by("pk")
    }
    if len(locked) < 2:
        raise Incident.DoesNotExist
    source, target = locked[incident_id], locked[into_id]
    for incident in (source, target):
        require_open(incident)
    for assignment in source.assignments.select_for_update().filter(
        status__in=Assignment.ACTIVE_STATUSES
    ):
        assignment.incident = source
        cancel_assignment(assignment, actor)
    source.status = Status.CLOSED
    source.close_reason = Incident.CloseReason.DUPLICATE
    source.merged_into = target
    source.save()
    record_incident_event("incident.merged", source, actor, into=target.pk)
    record_incident_event(
        "incident.updated",
        target,
        actor,
        merged_from=source.pk,
        calls=list(calls),
        messages=list(messages),
    )
    return target


def attach_call(incident_id, call_id, *, actor):
    """A call joins an open incident (call inside a transaction; the caller moves the call)."""
    incident = locked_incident(incident_id)
    require_open(incident)
    record_incident_event("incident.updated", incident, actor, calls=[call_id])
    return incident


def require_open(incident):
    if incident.status not in Incident.OPEN_STATUSES:
        raise Conflict(
            _("Incident %(reference)s is not open (%(status)s).")
            % {"reference": incident.reference, "status": Status(incident.status).label}
        )


def cancel_assignment(assignment, actor):
    assignment.status = AStatus.CANCELLED
    assignment.escalate_at = None
    assignment.save()
    record_assignment_event("assignment.cancelled", assignment, actor)


def assign(incident, agency, now):
    """Put the incident in the agency's queue, with a copy of the agency's escalation policy
    (later edits of the policy do not touch it) and the clock started at `now`."""
    policy = agency.escalation_policy
    steps = list(policy.steps) if policy else []
    return Assignment.objects.create(
        incident=incident,
        agency=agency,
        created_at=now,
        escalation_steps=steps,
        escalate_at=now + timedelta(seconds=steps[0]["after_seconds"]) if steps else None,
    )


@transaction.atomic
def dispatch(incident_id, *, actor, agencies=None):
    """Put the incident in the queue of each responsible agency: the routing rules choose them
    unless `agencies` overrides. Returns the assignments created (empty when unroutable)."""
    incident = locked_incident(incident_id)
    if incident.status not in Incident.OPEN_STATUSES:
        raise Conflict(_("Only an open incident can be dispatched."))
    if agencies is None:
        _rule, agencies = routing.route(incident.category, incident.area)
    if not agencies:
        incident.unroutable = True
        incident.save()
        record_incident_event("incident.unroutable", incident, actor)
        return []
    holding = set(
        incident.assignments.exclude(status__in=[AStatus.DECLINED, AStatus.CANCELLED]).values_list(
            "agency_id", flat=True
        )
    )
    new_agencies = [agency for agency in agencies if agency.id not in holding]
    if not new_agencies:
        raise Conflict(_("Every chosen agency already holds this incident."))
    now = timezone.now()
    created = [assign(incident, agency, now) for agency in new_agencies]
    if incident.status == Status.NEW:
        incident.status = Status.DISPATCHED
    incident.dispatched_at = incident.dispatched_at or now
    incident.unroutable = False
    incident.save()
    # The incident event first: an agency's console learns the incident, then its assignment.
    record_incident_event(
        "incident.dispatched", incident, actor, agencies=[a.agency.code for a in created]
    )
    for assignment in created:
        record_assignment_event("assignment.created", assignment, actor)
    return created


def settle_incident_status(incident, actor):
    """Derive an open incident's status from its assignments (both locked by the caller)."""
    if incident.status not in Incident.OPEN_STATUSES:
        return
    live = [
        a.status
        for a in incident.assignments.all()
        if a.status not in (AStatus.DECLINED, AStatus.CANCELLED)
    ]
    if not live:
        status = Status.NEW  # every agency declined: back to the command centre
    elif all(s == AStatus.COMPLETED for s in live):
        status = Status.RESOLVED
    elif any(s != AStatus.PENDING for s in live):
        status = Status.IN_PROGRESS
    else:
        status = Status.DISPATCHED
    if status != incident.status:
        incident.status = status
        incident.resolved_at = timezone.now() if status == Status.RESOLVED else None
        incident.save()
        record_incident_event(f"incident.{status}", incident, actor)


@transaction.atomic
def acknowledge(assignment_id, *, actor, on_behalf=None):
    """First acknowledgement wins; every later one is a Conflict. The conditional UPDATE is the
    arbiter: a concurrent second request waits on the row lock, then matches no row.
    `on_behalf` records how an acknowledgement without a signed-in actor was made (e.g. the
    duty officer pressing 1 on an escalation call)."""
    incident_id = Assignment.objects.values_list("incident_id", flat=True).get(pk=assignment_id)
    incident = locked_incident(incident_id)
    now = timezone.now()
    won = Assignment.objects.filter(pk=assignment_id, status=AStatus.PENDING).update(
        status=AStatus.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=actor,
        escalate_at=None,
        updated_at=now,
    )
    if not won:
        raise Conflict(_("This assignment was already acknowledged or closed."))
    assignment = Assignment.objects.select_related("agency", "acknowledged_by").get(
        pk=assignment_id
    )
    assignment.incident = incident
    extra = {"on_behalf": on_behalf} if on_behalf else {}
    record_assignment_event("assignment.acknowledged", assignment, actor, **extra)
    settle_incident_status(incident, actor)
    return assignment


PROGRESS_ORDER = [
    AStatus.PENDING,
    AStatus.ACKNOWLEDGED,
    AStatus.EN_ROUTE,
    AStatus.ON_SCENE,
    AStatus.COMPLETED,
]
TIMESTAMP_FIELD = {
    AStatus.EN_ROUTE: "en_route_at",
    AStatus.ON_SCENE: "on_scene_at",
    AStatus.COMPLETED: "completed_at",
    AStatus.DECLINED: "declined_at",
}


def check_progress(current, new):
    if current in Assignment.FINAL_STATUSES:
        raise Conflict(
            _("This assignment is already %(status)s.") % {"status": AStatus(current).label}
        )
    if new == AStatus.DECLINED:
        if current not in (AStatus.PENDING, AStatus.ACKNOWLEDGED):
            raise Conflict(_("An assignment under way cannot be declined."))
    elif PROGRESS_ORDER.index(new) <= PROGRESS_ORDER.index(current):
        raise Conflict(
            _("Progress only moves forward: %(old)s → %(new)s.")
            % {"old": AStatus(current).label, "new": AStatus(new).label}
        )


@transaction.atomic
def report_progress(assignment_id, *, actor, status, note=""):
    """Agency staff report en route / on scene / completed, or decline with a reason. Reporting
    progress on a pending assignment acknowledges it too."""
    incident_id = Assignment.objects.values_list("incident_id", flat=True).get(pk=assignment_id)
    incident = locked_incident(incident_id)
    assignment = Assignment.objects.select_for_update().get(pk=assignment_id)
    check_progress(assignment.status, status)
    now = timezone.now()
    if assignment.status == AStatus.PENDING and status != AStatus.DECLINED:
        assignment.acknowledged_at = now
        assignment.acknowledged_by = actor
    assignment.status = status
    setattr(assignment, TIMESTAMP_FIELD[status], now)
    assignment.escalate_at = None
    if note:
        assignment.note = note
    assignment.save()
    assignment.incident = incident
    record_assignment_event(f"assignment.{status}", assignment, actor, note=note)
    settle_incident_status(incident, actor)
    return assignment
