"""Escalation (CONTRACT §8): when an agency does not acknowledge in time.

Deadlines are rows, not sleeping tasks. Each pending assignment carries a copy of its agency's
policy steps, how many have fired (`escalation_level`) and when the next is due (`escalate_at`,
indexed). Celery beat runs `run_due()` every two seconds; it claims due assignments under row
locks, a batch at a time, fires each overdue step once and sets the next deadline in the same
transaction — a few statements per batch, not per step. A crashed worker, a restarted Redis or
a late beat loses nothing: the rows are still due and the next sweep fires them, once.

Locking follows the rest of the domain — incident rows first, then assignments — and skips rows
another sweeper (or an acknowledgement) holds, so two workers never fire the same step and
never deadlock with each other or with staff.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from agencies.models import EscalationAction
from dispatch import events, notifications
from dispatch.incidents import assign, record_assignment_event, settle_incident_status
from dispatch.models import Assignment, Incident
from dispatch.payloads import AssignmentSerializer, NotificationSerializer

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
# How many batches' worth of due rows a claim looks at: room for this many sweepers at once.
CANDIDATES = 4


def due(now):
    return Assignment.objects.filter(status=Assignment.Status.PENDING, escalate_at__lte=now)


def lockable(queryset, **options):
    """SELECT … FOR UPDATE SKIP LOCKED where the database has it. SQLite has no row locks, but
    there a sweep's transaction already holds the single write lock (transaction_mode
    IMMEDIATE), which serialises sweeps just as well."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, **options)
    return queryset


def due_incidents(now, limit):
    """The incidents a sweep locks first: up to `limit` with a due assignment, SKIP LOCKED.

    The candidates are the earliest-due rows (the escalate_at index), several batches' worth,
    and SKIP LOCKED applies inside that window: a second sweeper running at the same time takes
    the next incidents instead of finding the first ones locked and giving up with an empty
    batch — so two workers share a burst of due rows rather than one doing it all."""
    candidates = due(now).order_by("escalate_at").values("incident_id")[: limit * CANDIDATES]
    return lockable(Incident.objects.filter(id__in=candidates).order_by("id")).values_list(
        "id", flat=True
    )[:limit]


def claim(now, limit):
    """Lock up to `limit` incidents with due assignments, then those assignments, for this
    transaction."""
    locked_incidents = list(due_incidents(now, limit))
    return list(
        lockable(due(now).filter(incident_id__in=locked_incidents), of=("self",))
        .select_related("agency__backup_agency", "incident__category", "incident__area__parent")
        .order_by("escalate_at")
    )


def run_due(now=None, batch_size=BATCH_SIZE, on_backlog=None):
    """Fire every step that is due, a batch of locked assignments per transaction. Returns how
    many fired. `on_backlog` is called once, as soon as a batch comes back full: more is due
    than one batch, so more sweepers may share it (tasks.sweep asks for one more)."""
    fired = 0
    while True:
        current = now or timezone.now()
        with transaction.atomic():
            batch = claim(current, batch_size)
            if on_backlog is not None and len(batch) == batch_size:
                on_backlog()
                on_backlog = None
            fired += fire_batch(batch, current)
        if len(batch) < batch_size:
            return fired


def next_deadline(assignment):
    """`after_seconds` counts from the assignment's creation, not from the previous step."""
    steps = assignment.escalation_steps
    if assignment.escalation_level >= len(steps):
        return None
    return assignment.created_at + timedelta(
        seconds=steps[assignment.escalation_level]["after_seconds"]
    )


class Fired:
    """One fired step: what its event and its notifications need, taken as it fired."""

    def __init__(self, assignment, index, step, due_at, snapshot, notifications):
        self.assignment = assignment
        self.index = index
        self.step = step
        self.due_at = due_at
        self.snapshot = snapshot  # the assignment as the API shows it, once this step fired
        self.notifications = notifications  # unsaved Notification rows


def fire_batch(assignments, now):
    """Fire every due step of these locked assignments in a fixed number of statements, however
    many there are: one UPDATE of the assignments, one INSERT of their notifications, one INSERT
    of their `escalation.triggered` events (a reroute adds the few of its hand-over). The
    payloads are built from the rows in hand, one serializer of each kind for the batch."""
    if not assignments:
        return 0
    # The clock now, not the sweep's `now`: a sweep over many due rows would otherwise stamp
    # them all with its start and hide how late the last ones were.
    fired_at = timezone.now()
    describe = AssignmentSerializer().to_representation
    fired = [step for a in assignments for step in fire_due_steps(a, now, fired_at, describe)]
    write_fired(assignments)
    for assignment in assignments:
        if taken_back(assignment):
            hand_over(assignment)
    saved = iter(notifications.create_many([n for f in fired for n in f.notifications]))
    summarize = NotificationSerializer().to_representation
    events.record_many(
        [
            escalation_event(f, fired_at, [summarize(next(saved)) for _ in f.notifications])
            for f in fired
        ]
    )
    for f in fired:
        log_fired(f)
    return len(fired)


# What firing changes on an assignment (a reroute: its status and note too).
FIRED_FIELDS = ("escalation_level", "escalate_at", "status", "note", "updated_at")


def write_fired(assignments):
    """One UPDATE for the whole batch. On PostgreSQL the new values travel as one array per
    column: Django's bulk_update builds a CASE expression per row and field, which cost more
    than all the rest of a batch. SQLite (development) has no arrays and keeps bulk_update."""
    if connection.vendor != "postgresql":
        Assignment.objects.bulk_update(assignments, FIRED_FIELDS)
        return
    columns = {name: [getattr(a, name) for a in assignments] for name in ("id", *FIRED_FIELDS)}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE dispatch_assignment AS a
               SET escalation_level = v.escalation_level, escalate_at = v.escalate_at,
                   status = v.status, note = v.note, updated_at = v.updated_at
              FROM unnest(%s::bigint[], %s::smallint[], %s::timestamptz[], %s::text[],
                          %s::text[], %s::timestamptz[])
                   AS v(id, escalation_level, escalate_at, status, note, updated_at)
             WHERE a.id = v.id
            """,
            list(columns.values()),
        )


def fire_due_steps(assignment, now, fired_at, describe):
    """Fire, in memory, each step of this (locked) assignment that is due, oldest first — a
    sweep that comes late fires every step it missed, each once. `fire_batch` writes them."""
    fired = []
    while (
        assignment.status == Assignment.Status.PENDING
        and assignment.escalate_at is not None
        and assignment.escalate_at <= now
    ):
        index = assignment.escalation_level
        step = assignment.escalation_steps[index]
        due_at = assignment.escalate_at
        assignment.escalation_level = index + 1
        assignment.escalate_at = next_deadline(assignment)
        assignment.updated_at = fired_at
        sent = run_action(assignment, index, step["action"])
        fired.append(Fired(assignment, index, step, due_at, describe(assignment), sent))
    return fired


def escalation_event(fired, fired_at, sent):
    return events.draft(
        "escalation.triggered",
        incident=fired.assignment.incident,
        agency=fired.assignment.agency,
        data={
            "assignment": fired.snapshot,
            "step": {
                "index": fired.index,
                "action": fired.step["action"],
                "after_seconds": fired.step["after_seconds"],
                "due_at": fired.due_at.isoformat(),
                "fired_at": fired_at.isoformat(),
            },
            "notifications": sent,
        },
    )


def log_fired(fired):
    assignment = fired.assignment
    logger.info(
        "escalation step %s (%s) fired for assignment %s to %s",
        fired.index,
        fired.step["action"],
        assignment.id,
        assignment.agency.code,
        extra={"incident": assignment.incident.reference},
    )


def run_action(assignment, index, action):
    """The step's handler: the notification rows it sends (unsaved). A step copied from an old
    policy may name an action this version no longer has: the step still counts as fired (the
    next one stays on time) but notifies nobody, and the sweep goes on with every other
    assignment."""
    handler = ACTIONS.get(action)
    if handler is None:
        logger.error(
            "escalation step %s of assignment %s: unknown action %r, fired without notification",
            index,
            assignment.id,
            action,
            extra={"incident": assignment.incident.reference},
        )
        return []
    return handler(assignment, index)


def notify_agency(assignment, index):
    """Re-alert the agency's console: the escalation event itself carries the alert."""
    return [notifications.console(assignment, index, f"agency:{assignment.agency.code}")]


def notify_supervisors(assignment, index):
    return [notifications.console(assignment, index, "supervisors")]


def sms_agency(assignment, index):
    return [notifications.external(assignment, index, "sms", sms_text(assignment))]


def call_agency(assignment, index):
    return [notifications.external(assignment, index, "voice", "")]


def reroute(assignment, index):
    """Take the incident back from the silent agency; `hand_over` passes it on once the batch's
    UPDATE has written the cancellation."""
    assignment.status = Assignment.Status.CANCELLED
    assignment.escalate_at = None
    assignment.note = "Dialihkan otomatis: tidak diterima tepat waktu"
    return [notifications.console(assignment, index, "supervisors")]


def hand_over(assignment):
    """After a reroute: to the silent agency's backup agency when one is configured, else back
    to the command centre for re-dispatch."""
    record_assignment_event("assignment.cancelled", assignment, reason="escalation")
    backup = assignment.agency.backup_agency
    incident = assignment.incident
    if backup and backup.is_active and not ever_held(incident, backup):
        replacement = assign(incident, backup, timezone.now())
        record_assignment_event("assignment.created", replacement, rerouted_from=assignment.id)
    settle_incident_status(incident, None)


def ever_held(incident, agency):
    """A backup that already had this incident (or an agency set as its own backup) is skipped:
    rerouting A → B → A would bounce the incident forever instead of handing it back."""
    return incident.assignments.filter(agency=agency).exists()


ACTIONS = {
    EscalationAction.NOTIFY_AGENCY: notify_agency,
    EscalationAction.NOTIFY_SUPERVISORS: notify_supervisors,
    EscalationAction.SMS_AGENCY: sms_agency,
    EscalationAction.CALL_AGENCY: call_agency,
    EscalationAction.REROUTE: reroute,
}

# "Taken back": an assignment a reroute step cancelled, whose incident waits for the command
# centre. The consoles get this rule from the page's config (dispatch.views.console_config).
TAKEN_BACK = {"status": Assignment.Status.CANCELLED, "last_action": EscalationAction.REROUTE}


def taken_back(assignment):
    fired = assignment.escalation_steps[: assignment.escalation_level]
    return (
        assignment.status == TAKEN_BACK["status"]
        and bool(fired)
        and fired[-1]["action"] == TAKEN_BACK["last_action"]
    )


def check_actions(actions=None):
    """Every action a policy may name has a handler, and every handler an action; run at start
    (DispatchConfig.ready), so a mismatch stops the process instead of every sweep."""
    actions = ACTIONS if actions is None else actions
    unhandled = sorted(set(EscalationAction.values) - set(actions))
    unknown = sorted(set(actions) - set(EscalationAction.values))
    problems = []
    if unhandled:
        problems.append(f"escalation actions without a handler: {', '.join(unhandled)}")
    if unknown:
        problems.append(f"handlers for no EscalationAction: {', '.join(unknown)}")
    if problems:
        raise ImproperlyConfigured(
            "; ".join(problems)
            + " (agencies.models.EscalationAction and dispatch.escalation.ACTIONS must match)."
        )


def place(incident):
    area = incident.area
    if area is None:
        return "lokasi belum diisi"
    if area.parent_id:
        return f"Kel. {area.name}, Kec. {area.parent.name}"
    return f"Kec. {area.name}"


def sms_text(assignment):
    """Bahasa Indonesia, short enough for two SMS segments."""
    incident = assignment.incident
    minutes = max(1, int((timezone.now() - assignment.created_at).total_seconds() // 60))
    category = incident.category.name if incident.category_id else "Kejadian"
    link = f"{settings.PUBLIC_BASE_URL or ''}/?assignment={assignment.id}"
    return (
        f"[112 {settings.CITY_NAME}] {incident.reference} {category} di {place(incident)}. "
        f"Belum diterima {assignment.agency.code} sejak {minutes} menit. Terima: {link}"
    )
