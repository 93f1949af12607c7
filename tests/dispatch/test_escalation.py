"""Escalation clocks (CONTRACT §8), driven by `escalation.run_due()` under a frozen clock.

Every test dispatches at T0 with time frozen (tick=False), so `created_at` is exactly T0 and
each step is due at exactly T0 + after_seconds; sweeps then run at chosen instants.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agencies.models import Agency, EscalationPolicy
from dispatch import escalation, incidents
from dispatch.models import Assignment, Incident, IncidentEvent, Notification
from tests.conftest import requires_postgres
from tests.dispatch.helpers import new_incident, staff_of

pytestmark = pytest.mark.usefixtures("cilegon")

T0 = datetime(2026, 11, 10, 2, 0, 0, tzinfo=UTC)

ALL_STEPS = [
    {"after_seconds": 60, "action": "notify_agency"},
    {"after_seconds": 120, "action": "sms_agency"},
    {"after_seconds": 180, "action": "notify_supervisors"},
    {"after_seconds": 300, "action": "call_agency"},
    {"after_seconds": 600, "action": "reroute"},
]


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def sweep(seconds, **options):
    """One sweep with the clock frozen at T0 + seconds; returns how many steps fired."""
    with time_machine.travel(at(seconds), tick=False):
        return escalation.run_due(**options)


def set_policy(agency_code, steps, name=None):
    agency = Agency.objects.get(code=agency_code)
    if steps is None:
        agency.escalation_policy = None
    else:
        agency.escalation_policy = EscalationPolicy.objects.create(
            name=name or f"policy-{agency_code}-{EscalationPolicy.objects.count()}", steps=steps
        )
    agency.save()
    return agency


def dispatch_at(seconds, agencies=("DPKP",), category="FIRE"):
    """A fresh incident dispatched at T0 + seconds. Returns (incident, {code: assignment})."""
    with time_machine.travel(at(seconds), tick=False):
        incident = new_incident(category)
        created = incidents.dispatch(
            incident.pk, actor=None, agencies=list(Agency.objects.filter(code__in=agencies))
        )
    return incident, {assignment.agency.code: assignment for assignment in created}


def triggered(assignment=None):
    events = IncidentEvent.objects.filter(type="escalation.triggered").order_by("id")
    if assignment is not None:
        events = events.filter(data__assignment__id=assignment.id)
    return list(events)


def fired_steps(assignment=None):
    return [(e.data["step"]["index"], e.data["step"]["action"]) for e in triggered(assignment)]


def reload(obj):
    obj.refresh_from_db()
    return obj


# --- when a step fires --------------------------------------------------------------------


def test_a_step_fires_only_once_due_and_exactly_once():
    set_policy("DPKP", ALL_STEPS[:3])
    _incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]
    assert assignment.created_at == T0
    assert assignment.escalate_at == at(60)
    assert assignment.escalation_level == 0

    assert sweep(59.999) == 0
    assert triggered() == []

    assert sweep(60) == 1  # due at exactly T0 + 60: fires
    assert sweep(60) == 0  # and never again
    assert sweep(61) == 0
    assert sweep(119) == 0
    assert fired_steps() == [(0, "notify_agency")]
    assignment = reload(assignment)
    assert assignment.escalation_level == 1
    assert assignment.escalate_at == at(120)


def test_after_seconds_counts_from_creation_not_from_the_previous_step():
    set_policy("DPKP", [ALL_STEPS[0], {"after_seconds": 90, "action": "notify_supervisors"}])
    _incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]

    assert sweep(80) == 1  # step 0 fires 20 s late …
    assert reload(assignment).escalate_at == at(90)  # … step 1 is still due at T0 + 90
    assert sweep(89) == 0
    assert sweep(90) == 1
    [first, second] = triggered(assignment)
    assert first.data["step"]["due_at"] == at(60).isoformat()
    assert first.data["step"]["fired_at"] == at(80).isoformat()
    assert second.data["step"]["due_at"] == at(90).isoformat()
    assert second.data["step"]["fired_at"] == at(90).isoformat()
    assert reload(assignment).escalate_at is None  # the policy is spent


def test_a_late_sweep_fires_every_missed_step_once_in_order(django_capture_on_commit_callbacks):
    set_policy("DPKP", ALL_STEPS[:4])
    _incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]

    with django_capture_on_commit_callbacks():  # the queued SMS/call are not sent here
        assert sweep(400) == 4
        assert sweep(400) == 0
        assert sweep(10_000) == 0
    assert fired_steps(assignment) == [
        (0, "notify_agency"),
        (1, "sms_agency"),
        (2, "notify_supervisors"),
        (3, "call_agency"),
    ]
    for event, step in zip(triggered(assignment), ALL_STEPS, strict=False):
        assert event.data["step"]["due_at"] == at(step["after_seconds"]).isoformat()
        assert event.data["step"]["fired_at"] == at(400).isoformat()
    assignment = reload(assignment)
    assert (assignment.escalation_level, assignment.escalate_at) == (4, None)
    assert assignment.status == Assignment.Status.PENDING  # escalation alone never acknowledges


def test_a_sweep_works_through_more_due_rows_than_one_batch():
    set_policy("DPKP", ALL_STEPS[:1])
    assignments = [dispatch_at(i)[1]["DPKP"] for i in range(7)]
    assert sweep(100, batch_size=3) == 7
    assert sweep(100, batch_size=3) == 0
    assert sorted(e.data["assignment"]["id"] for e in triggered()) == sorted(
        a.id for a in assignments
    )


def test_each_assignment_runs_its_own_clock():
    set_policy("DPKP", ALL_STEPS[:2])
    set_policy("POLRES", [{"after_seconds": 30, "action": "notify_supervisors"}])
    _incident, assigned = dispatch_at(0, agencies=("DPKP", "POLRES"))
    _later, later = dispatch_at(50, agencies=("DPKP",))

    assert sweep(30) == 1
    assert sweep(60) == 1  # the first DPKP assignment; the later one is due at T0 + 110
    assert sweep(110) == 1
    assert fired_steps(assigned["POLRES"]) == [(0, "notify_supervisors")]
    assert fired_steps(assigned["DPKP"]) == [(0, "notify_agency")]
    assert fired_steps(later["DPKP"]) == [(0, "notify_agency")]


# --- what a sweep costs --------------------------------------------------------------------


def sweep_queries(seconds):
    with CaptureQueriesContext(connection) as captured:
        fired = sweep(seconds)
    return fired, [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize(
    "steps",
    [ALL_STEPS[:1], ALL_STEPS[1:2], ALL_STEPS[:4]],
    ids=["console", "sms", "four-steps-each"],
)
def test_a_batch_costs_the_same_few_queries_however_many_steps_it_fires(
    steps, django_capture_on_commit_callbacks
):
    """Claim (incidents, then their assignments), one UPDATE of the assignments, one INSERT of
    the notifications, one INSERT of the events: never a query per step."""
    set_policy("DPKP", steps)
    due_after = steps[-1]["after_seconds"]
    with django_capture_on_commit_callbacks():  # the queued SMS are not sent here
        dispatch_at(0)
        few, few_queries = sweep_queries(due_after)
        for i in range(1, 9):
            dispatch_at(i)
        many, many_queries = sweep_queries(due_after + 9)
    assert (few, many) == (len(steps), 8 * len(steps))
    assert len(few_queries) == len(many_queries) == 7, many_queries
    statements = [sql.split()[0] for sql in many_queries]
    assert statements == ["SAVEPOINT", "SELECT", "SELECT", "UPDATE", "INSERT", "INSERT", "RELEASE"]


# --- what a fired step records -------------------------------------------------------------


def test_each_fired_step_writes_one_escalation_event_with_step_and_notifications(
    django_capture_on_commit_callbacks,
):
    set_policy("DPKP", ALL_STEPS[:4])
    incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]
    before = set(IncidentEvent.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks():
        sweep(300)

    new_events = IncidentEvent.objects.exclude(id__in=before).order_by("id")
    assert [e.type for e in new_events] == ["escalation.triggered"] * 4
    rows = {n.step: n for n in Notification.objects.filter(assignment=assignment)}
    assert len(rows) == 4
    for index, (event, step) in enumerate(zip(new_events, ALL_STEPS, strict=False)):
        assert event.incident_id == incident.id
        assert event.agency_id == assignment.agency_id
        assert event.data["assignment"]["id"] == assignment.id
        assert event.data["assignment"]["agency"] == "DPKP"
        assert event.data["step"] == {
            "index": index,
            "action": step["action"],
            "after_seconds": step["after_seconds"],
            "due_at": at(step["after_seconds"]).isoformat(),
            "fired_at": at(300).isoformat(),
        }
        [sent] = event.data["notifications"]
        assert sent["id"] == rows[index].id
        assert sent["step"] == index
        assert sent["assignment"] == assignment.id

    channels = {n.step: (n.channel, n.recipient, n.status) for n in rows.values()}
    assert channels == {
        0: ("console", "agency:DPKP", "sent"),
        1: ("sms", "+62254377113", "queued"),
        2: ("console", "supervisors", "sent"),
        3: ("voice", "+62254377113", "queued"),
    }


def test_each_events_assignment_is_the_assignment_as_the_api_shows_it_after_its_step():
    set_policy("DPKP", ALL_STEPS[:3])
    _incident, assigned = dispatch_at(0)
    with time_machine.travel(at(150), tick=False):  # steps 0 and 1 due, step 2 not yet
        assert escalation.run_due() == 2
    first, second = triggered(assigned["DPKP"])
    after_second = reload(assigned["DPKP"])
    assert second.data["assignment"] == incidents.assignment_data(after_second)["assignment"]
    after_first = reload(assigned["DPKP"])
    after_first.escalation_level, after_first.escalate_at = 1, at(120)
    assert first.data["assignment"] == incidents.assignment_data(after_first)["assignment"]


def test_notification_state_changes_are_notification_events_never_escalation_events(
    django_capture_on_commit_callbacks,
):
    from dispatch import notifications  # noqa: PLC0415

    set_policy("DPKP", [ALL_STEPS[1], ALL_STEPS[3]])
    _incident, assigned = dispatch_at(0)
    with django_capture_on_commit_callbacks():
        assert sweep(300) == 2
    with time_machine.travel(at(301), tick=False):
        for row in Notification.objects.all():
            notifications.deliver(row.id)  # the console gateway: sent

    types = list(
        IncidentEvent.objects.filter(type__regex=r"^(escalation|notification)\.")
        .order_by("id")
        .values_list("type", flat=True)
    )
    assert types == ["escalation.triggered"] * 2 + ["notification.sent"] * 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert Notification.objects.count() == 2


# --- what stops the clock ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["acknowledge", "progress", "decline", "cancel_incident"])
def test_acknowledge_decline_or_cancel_stop_the_clock(how):
    set_policy("DPKP", ALL_STEPS)
    incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]
    staff = staff_of("DPKP")
    assert sweep(61) == 1

    with time_machine.travel(at(70), tick=False):
        if how == "acknowledge":
            incidents.acknowledge(assignment.id, actor=staff)
        elif how == "progress":
            incidents.report_progress(assignment.id, actor=staff, status="en_route")
        elif how == "decline":
            incidents.report_progress(assignment.id, actor=staff, status="declined", note="x")
        else:
            incidents.update_incident(incident.id, actor=None, status="cancelled")

    assignment = reload(assignment)
    assert assignment.escalate_at is None
    assert assignment.escalation_level == 1
    assert sweep(10_000) == 0
    assert fired_steps() == [(0, "notify_agency")]
    assert Notification.objects.count() == 1


def test_resolving_the_incident_stops_its_pending_assignments_clock():
    set_policy("DPKP", ALL_STEPS)
    incident, assigned = dispatch_at(0)
    with time_machine.travel(at(10), tick=False):
        incidents.update_incident(incident.id, actor=None, status="resolved")
    assert reload(assigned["DPKP"]).status == Assignment.Status.CANCELLED
    assert sweep(10_000) == 0


def test_an_acknowledged_assignment_does_not_stop_another_agencys_clock():
    set_policy("DPKP", ALL_STEPS[:1])
    set_policy("POLRES", ALL_STEPS[:1])
    _incident, assigned = dispatch_at(0, agencies=("DPKP", "POLRES"))
    with time_machine.travel(at(10), tick=False):
        incidents.acknowledge(assigned["DPKP"].id, actor=staff_of("DPKP"))
    assert sweep(60) == 1
    assert fired_steps(assigned["POLRES"]) == [(0, "notify_agency")]
    assert fired_steps(assigned["DPKP"]) == []


# --- the policy is a snapshot ---------------------------------------------------------------


def test_editing_the_policy_after_dispatch_does_not_change_a_running_escalation():
    agency = set_policy("DPKP", ALL_STEPS[:2])
    _incident, assigned = dispatch_at(0)
    running = assigned["DPKP"]
    assert running.escalation_steps == ALL_STEPS[:2]

    policy = agency.escalation_policy
    policy.steps = [{"after_seconds": 10, "action": "reroute"}]
    policy.save()

    running = reload(running)
    assert running.escalation_steps == ALL_STEPS[:2]
    assert running.escalate_at == at(60)
    assert sweep(30) == 0
    assert sweep(200) == 2
    assert fired_steps(running) == [(0, "notify_agency"), (1, "sms_agency")]
    assert reload(running).status == Assignment.Status.PENDING  # never rerouted

    # A new dispatch takes the new steps.
    _other, later = dispatch_at(1000)
    fresh = later["DPKP"]
    assert fresh.escalation_steps == [{"after_seconds": 10, "action": "reroute"}]
    assert fresh.escalate_at == at(1010)
    assert sweep(1010) == 1
    assert fired_steps(fresh) == [(0, "reroute")]


def test_swapping_the_agencys_policy_or_removing_it_does_not_change_a_running_escalation():
    set_policy("DPKP", ALL_STEPS[:1])
    _incident, assigned = dispatch_at(0)
    set_policy("DPKP", None)
    assert sweep(60) == 1
    assert fired_steps(assigned["DPKP"]) == [(0, "notify_agency")]


def test_deleting_the_policy_does_not_change_a_running_escalation():
    agency = set_policy("DPKP", ALL_STEPS[:1])
    _incident, assigned = dispatch_at(0)
    agency.escalation_policy.delete()
    assert sweep(60) == 1
    assert fired_steps(assigned["DPKP"]) == [(0, "notify_agency")]


@pytest.mark.parametrize("steps", [None, []], ids=["no-policy", "empty-policy"])
def test_an_agency_without_a_policy_never_escalates(steps):
    set_policy("DPKP", steps)
    _incident, assigned = dispatch_at(0)
    assignment = assigned["DPKP"]
    assert assignment.escalation_steps == []
    assert assignment.escalate_at is None
    assert sweep(60) == 0
    assert sweep(86_400 * 30) == 0
    assert triggered() == []
    assert reload(assignment).status == Assignment.Status.PENDING


# --- reroute ----------------------------------------------------------------------------------

REROUTE_AT_60 = [ALL_STEPS[0], {"after_seconds": 90, "action": "reroute"}]


def test_reroute_hands_the_incident_to_the_backup_agency_with_its_own_snapshot():
    dpkp = set_policy("DPKP", REROUTE_AT_60)
    bpbd = set_policy("BPBD", [{"after_seconds": 45, "action": "notify_supervisors"}])
    dpkp.backup_agency = bpbd
    dpkp.save()
    incident, assigned = dispatch_at(0)
    silent = assigned["DPKP"]

    assert sweep(90) == 2
    silent = reload(silent)
    assert silent.status == Assignment.Status.CANCELLED
    assert silent.escalate_at is None
    assert silent.note  # why it was withdrawn
    replacement = Assignment.objects.get(incident=incident, agency=bpbd)
    assert replacement.status == Assignment.Status.PENDING
    assert replacement.escalation_steps == [{"after_seconds": 45, "action": "notify_supervisors"}]
    assert replacement.created_at == at(90)
    assert replacement.escalate_at == at(135)
    assert reload(incident).status == Incident.Status.DISPATCHED

    cancelled = IncidentEvent.objects.get(type="assignment.cancelled")
    assert cancelled.data["assignment"]["id"] == silent.id
    assert cancelled.data["reason"] == "escalation"
    created = IncidentEvent.objects.filter(type="assignment.created").order_by("id").last()
    assert created.data["assignment"]["id"] == replacement.id
    assert created.data["rerouted_from"] == silent.id
    assert created.agency_id == bpbd.id

    reroute_event = triggered(silent)[-1]
    assert reroute_event.data["step"]["action"] == "reroute"
    [note] = reroute_event.data["notifications"]
    assert (note["channel"], note["recipient"]) == ("console", "supervisors")

    # The backup runs its own clock from its own creation.
    assert sweep(134) == 0
    assert sweep(135) == 1
    assert fired_steps(replacement) == [(0, "notify_supervisors")]
    assert sweep(100_000) == 0


def test_reroute_without_a_backup_returns_the_incident_to_the_command_centre():
    set_policy("DPKP", REROUTE_AT_60)
    incident, assigned = dispatch_at(0)
    assert sweep(90) == 2
    assert reload(assigned["DPKP"]).status == Assignment.Status.CANCELLED
    assert reload(incident).status == Incident.Status.NEW
    assert IncidentEvent.objects.filter(type="incident.new", incident=incident).count() == 1
    assert not Assignment.objects.filter(incident=incident, status="pending").exists()
    assert sweep(100_000) == 0


def test_reroute_leaves_the_incident_dispatched_while_another_agency_holds_it():
    set_policy("DPKP", REROUTE_AT_60)
    set_policy("POLRES", None)
    incident, assigned = dispatch_at(0, agencies=("DPKP", "POLRES"))
    assert sweep(90) == 2
    assert reload(incident).status == Incident.Status.DISPATCHED
    assert reload(assigned["POLRES"]).status == Assignment.Status.PENDING


def test_reroute_to_an_inactive_backup_goes_to_the_command_centre():
    dpkp = set_policy("DPKP", REROUTE_AT_60)
    dpkp.backup_agency = Agency.objects.get(code="BPBD")
    dpkp.backup_agency.is_active = False
    dpkp.backup_agency.save()
    dpkp.save()
    incident, _assigned = dispatch_at(0)
    assert sweep(90) == 2
    assert not Assignment.objects.filter(incident=incident, agency__code="BPBD").exists()
    assert reload(incident).status == Incident.Status.NEW


def test_reroute_to_a_backup_that_already_holds_the_incident_adds_no_second_assignment():
    dpkp = set_policy("DPKP", REROUTE_AT_60)
    set_policy("BPBD", None)
    dpkp.backup_agency = Agency.objects.get(code="BPBD")
    dpkp.save()
    incident, assigned = dispatch_at(0, agencies=("DPKP", "BPBD"))
    assert sweep(90) == 2
    assert Assignment.objects.filter(incident=incident, agency__code="BPBD").count() == 1
    assert reload(incident).status == Incident.Status.DISPATCHED


def test_reroute_to_a_backup_without_a_policy_does_not_escalate_further():
    dpkp = set_policy("DPKP", REROUTE_AT_60)
    dpkp.backup_agency = set_policy("BPBD", None)
    dpkp.save()
    incident, _assigned = dispatch_at(0)
    assert sweep(90) == 2
    replacement = Assignment.objects.get(incident=incident, agency__code="BPBD")
    assert (replacement.escalation_steps, replacement.escalate_at) == ([], None)
    assert sweep(100_000) == 0


# --- two sweepers at once (PostgreSQL row locks) ----------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_sweeper_claims_other_due_rows_while_the_first_holds_its_batch():
    """Both transactions open at once: the second skips the first one's locked incidents and
    takes the next due ones — it neither waits nor comes back empty-handed."""
    set_policy("DPKP", ALL_STEPS[:1])
    ids = {dispatch_at(i)[1]["DPKP"].id for i in range(6)}
    first_holds, second_done = threading.Event(), threading.Event()
    claimed = {}

    def sweeper(name, hold):
        try:
            with transaction.atomic():
                claimed[name] = {a.id for a in escalation.claim(at(100), 3)}
                if hold:
                    first_holds.set()
                    second_done.wait(30)
        finally:
            connection.close()

    first = threading.Thread(target=sweeper, args=("first", True))
    first.start()
    assert first_holds.wait(30)
    try:
        sweeper("second", False)
    finally:
        second_done.set()
        first.join(30)
    assert len(claimed["first"]) == 3
    assert len(claimed["second"]) == 3
    assert claimed["first"] | claimed["second"] == ids
