"""An assignment's life through the API: acknowledge (first wins), progress forwards only,
decline with a reason, and what each step does to the incident."""

import pytest

from dispatch.models import Assignment, Incident
from tests.conftest import api_as
from tests.dispatch.helpers import (
    API,
    acknowledge,
    assert_names,
    assignment_url,
    dispatched_incident,
    ids,
    post_json,
    report,
    staff_of,
)


@pytest.fixture
def fire(cilegon):
    """A FIRE incident dispatched to DPKP alone, and its assignment."""
    incident, assignments = dispatched_incident("FIRE")
    return assignments["DPKP"]


@pytest.fixture
def dpkp(dpkp_staff):
    return api_as(dpkp_staff)


@pytest.fixture
def traffic(cilegon):
    """A TRAFFIC incident (POLRES, PSC119, DISHUB) and a client per agency's staff."""
    incident, assignments = dispatched_incident("TRAFFIC")
    clients = {code: api_as(staff_of(code)) for code in assignments}
    return incident, assignments, clients


def incident_status(assignment):
    return Incident.objects.get(pk=assignment.incident_id).status


def fresh(assignment):
    return Assignment.objects.get(pk=assignment.pk)


def test_acknowledge_records_who_and_when_and_stops_the_clock(fire, dpkp):
    response = acknowledge(dpkp, fire)
    assert response.status_code == 200, response.data
    assert response.data["status"] == "acknowledged"
    assert response.data["acknowledged_by"] == "dpkp_staff"
    assert response.data["acknowledged_at"] is not None
    assert response.data["escalate_at"] is None
    assert fresh(fire).escalate_at is None


def test_first_acknowledgement_wins_and_the_second_is_409(fire, dpkp, cilegon):
    colleague = api_as(staff_of("DPKP", "dpkp_colleague"))
    assert acknowledge(dpkp, fire).status_code == 200
    response = acknowledge(colleague, fire)
    assert response.status_code == 409
    assert "detail" in response.data
    assert fresh(fire).acknowledged_by.username == "dpkp_staff"
    assert fresh(fire).incident.events.filter(type="assignment.acknowledged").count() == 1


def test_first_acknowledgement_puts_the_incident_in_progress(fire, dpkp):
    assert incident_status(fire) == "dispatched"
    acknowledge(dpkp, fire)
    assert incident_status(fire) == "in_progress"


def test_progress_moves_through_en_route_on_scene_completed(fire, dpkp):
    acknowledge(dpkp, fire)
    for status in ("en_route", "on_scene", "completed"):
        response = report(dpkp, fire, status, note=f"now {status}")
        assert response.status_code == 200, response.data
        assert response.data["status"] == status
        assert response.data[f"{status}_at"] is not None
        assert response.data["note"] == f"now {status}"
    assert incident_status(fire) == "resolved"


def test_progress_may_skip_steps(fire, dpkp):
    acknowledge(dpkp, fire)
    assert report(dpkp, fire, "on_scene").status_code == 200
    assert report(dpkp, fire, "completed").status_code == 200


def test_progress_on_a_pending_assignment_acknowledges_it_too(fire, dpkp):
    response = report(dpkp, fire, "en_route")
    assert response.status_code == 200, response.data
    assert response.data["acknowledged_by"] == "dpkp_staff"
    assert response.data["acknowledged_at"] is not None
    assert response.data["escalate_at"] is None
    assert incident_status(fire) == "in_progress"
    assert acknowledge(dpkp, fire).status_code == 409


@pytest.mark.parametrize(
    "reached, then",
    [
        ("on_scene", "en_route"),
        ("on_scene", "on_scene"),
        ("en_route", "en_route"),
        ("completed", "on_scene"),
        ("completed", "completed"),
        ("completed", "en_route"),
    ],
)
def test_going_backwards_or_repeating_a_step_is_409(fire, dpkp, reached, then):
    report(dpkp, fire, reached)
    response = report(dpkp, fire, then)
    assert response.status_code == 409
    assert fresh(fire).status == reached


def test_completed_assignment_cannot_be_acknowledged_or_declined(fire, dpkp):
    report(dpkp, fire, "completed")
    assert acknowledge(dpkp, fire).status_code == 409
    assert report(dpkp, fire, "declined", note="too late").status_code == 409


@pytest.mark.parametrize("note", [None, "", "   "])
def test_decline_needs_a_reason(fire, dpkp, note):
    response = report(dpkp, fire, "declined", note=note)
    assert_names(response, "note")
    assert fresh(fire).status == "pending"


@pytest.mark.parametrize("first", [None, "acknowledged"])
def test_decline_before_setting_out_is_allowed(fire, dpkp, first):
    if first:
        acknowledge(dpkp, fire)
    response = report(dpkp, fire, "declined", note="Unit sedang di lokasi lain")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "declined"
    assert response.data["declined_at"] is not None
    assert response.data["note"] == "Unit sedang di lokasi lain"
    assert response.data["escalate_at"] is None


@pytest.mark.parametrize("reached", ["en_route", "on_scene"])
def test_decline_once_under_way_is_409(fire, dpkp, reached):
    report(dpkp, fire, reached)
    assert report(dpkp, fire, "declined", note="changed our mind").status_code == 409
    assert fresh(fire).status == reached


def test_declined_assignment_takes_no_more_progress(fire, dpkp):
    report(dpkp, fire, "declined", note="no unit")
    assert report(dpkp, fire, "en_route").status_code == 409
    assert acknowledge(dpkp, fire).status_code == 409


def test_cancelled_assignment_cannot_be_acknowledged(fire, dpkp):
    Assignment.objects.filter(pk=fire.pk).update(status="cancelled")
    assert acknowledge(dpkp, fire).status_code == 409
    assert report(dpkp, fire, "en_route").status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "status"),
        ({"status": "flying"}, "status"),
        ({"status": "acknowledged"}, "status"),
        ({"status": "pending"}, "status"),
        ({"status": "cancelled"}, "status"),
        ({"status": ["en_route"]}, "status"),
        ({"status": "en_route", "note": ["x"]}, "note"),
        ({"status": "en_route", "note": "x" * 2001}, "note"),
    ],
)
def test_bad_status_body_is_400_naming_the_field(fire, dpkp, body, field):
    response = post_json(dpkp, assignment_url(fire.pk, "status"), body)
    assert_names(response, field)


def test_unknown_assignment_is_404(dpkp):
    assert dpkp.post(f"{API}/assignments/999999/acknowledge/").status_code == 404


def test_incident_returns_to_new_when_every_agency_declines(traffic):
    incident, assignments, clients = traffic
    for code, assignment in assignments.items():
        assert incident_status(assignment) == "dispatched"
        response = report(clients[code], assignment, "declined", note="bukan wewenang kami")
        assert response.status_code == 200, response.data
    incident.refresh_from_db()
    assert incident.status == "new"
    assert incident.events.filter(type="incident.new").count() == 1


def test_incident_stays_dispatched_while_one_agency_has_not_declined(traffic):
    incident, assignments, clients = traffic
    for code in ("POLRES", "DISHUB"):
        report(clients[code], assignments[code], "declined", note="tidak ada unit")
    incident.refresh_from_db()
    assert incident.status == "dispatched"


def test_incident_resolves_when_every_live_assignment_completes(traffic):
    incident, assignments, clients = traffic
    report(clients["DISHUB"], assignments["DISHUB"], "declined", note="tidak perlu")
    report(clients["POLRES"], assignments["POLRES"], "completed")
    incident.refresh_from_db()
    assert incident.status == "in_progress"
    assert incident.resolved_at is None

    report(clients["PSC119"], assignments["PSC119"], "completed")
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.resolved_at is not None


def test_events_record_each_step_with_its_actor(fire, dpkp):
    acknowledge(dpkp, fire)
    report(dpkp, fire, "en_route", note="5 menit")
    events = fresh(fire).incident.events.filter(type__startswith="assignment.")
    assert [(e.type, e.actor.username if e.actor else None) for e in events] == [
        ("assignment.created", None),
        ("assignment.acknowledged", "dpkp_staff"),
        ("assignment.en_route", "dpkp_staff"),
    ]
    assert events.last().data["note"] == "5 menit"
    assert events.last().data["assignment"]["status"] == "en_route"


def test_list_filters_by_status_agency_and_incident(traffic, operator):
    incident, assignments, clients = traffic
    other, _ = dispatched_incident("FIRE")
    acknowledge(clients["PSC119"], assignments["PSC119"])
    ops = api_as(operator)
    everyone = ids(ops.get(f"{API}/assignments/"))
    assert len(everyone) == 4
    assert ids(ops.get(f"{API}/assignments/?status=acknowledged")) == [assignments["PSC119"].pk]
    assert ids(ops.get(f"{API}/assignments/?status=pending,acknowledged")) == everyone
    assert ids(ops.get(f"{API}/assignments/?agency=DPKP")) == ids(
        ops.get(f"{API}/assignments/?incident={other.pk}")
    )
    assert ids(ops.get(f"{API}/assignments/?agency=NOPE")) == []
    assert len(ids(ops.get(f"{API}/assignments/?incident={incident.pk}"))) == 3
