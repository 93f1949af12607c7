"""`POST /api/v1/incidents/{id}/merge/ {"into"}` (CONTRACT §10): a duplicate's calls move to the
incident it duplicates, its open assignments are cancelled (each agency told), and it is
closed with `merged_into` — in one transaction, safe against two operators merging at once."""

import threading

import pytest
from django.db import close_old_connections

from calls import intake, linking
from calls.models import Call
from dispatch import incidents
from dispatch.incidents import Conflict
from dispatch.models import Assignment, Incident, IncidentEvent
from tests.conftest import api_as, make_user, requires_postgres
from tests.dispatch.helpers import incident_url, new_incident

pytestmark = pytest.mark.usefixtures("cilegon")


def called_in(sid, caller="+6281234567890"):
    call, _created = intake.receive_call({"CallSid": sid, "From": caller})
    return call


def merge(user, source, target):
    return api_as(user).post(incident_url(source.pk, "merge"), {"into": target.pk}, format="json")


def test_a_duplicate_is_merged_into_the_first_report(operator):
    first_call = called_in("CAfirst")
    first = first_call.incident
    second = called_in("CAsecond")
    duplicate = second.incident
    response = merge(operator, duplicate, first)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == first.pk
    assert sorted(response.json()["calls"]) == sorted([first_call.pk, second.pk])
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.merged_into_id) == ("closed", first.pk)
    assert Call.objects.get(pk=second.pk).incident_id == first.pk
    merged = IncidentEvent.objects.get(type="incident.merged")
    assert merged.incident_id == duplicate.pk and merged.data["into"] == first.pk
    told = IncidentEvent.objects.filter(incident=first, type="incident.updated").last()
    assert told.data["merged_from"] == duplicate.pk and told.data["calls"] == [second.pk]
    # The target's event already lists the moved call among the incident's calls.
    assert sorted(told.data["incident"]["calls"]) == sorted([first_call.pk, second.pk])


def test_the_duplicates_agencies_are_told_their_assignments_are_cancelled(operator):
    first = new_incident("FIRE")
    duplicate = new_incident("FIRE")
    [assignment] = incidents.dispatch(duplicate.pk, actor=operator)
    assert merge(operator, duplicate, first).status_code == 200
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.CANCELLED and assignment.escalate_at is None
    cancelled = IncidentEvent.objects.get(type="assignment.cancelled")
    assert cancelled.agency_id == assignment.agency_id


@pytest.mark.parametrize("target_status", ["closed", "resolved", "cancelled"])
def test_merging_into_an_incident_that_is_not_open_is_a_conflict(operator, target_status):
    target = new_incident("FIRE")
    incidents.update_incident(target.pk, actor=None, status=target_status)
    duplicate = new_incident("FIRE")
    response = merge(operator, duplicate, target)
    assert response.status_code == 409
    assert Incident.objects.get(pk=duplicate.pk).status == "new"


def test_merging_into_itself_is_a_conflict_and_bad_input_a_400(operator):
    incident = new_incident("FIRE")
    assert merge(operator, incident, incident).status_code == 409
    url = incident_url(incident.pk, "merge")
    client = api_as(operator)
    assert "into" in client.post(url, {}, format="json").json()
    assert client.post(url, {"into": "x"}, format="json").status_code == 400
    assert client.post(url, {"into": 10**30}, format="json").status_code == 400
    assert client.post(url, {"into": 999999}, format="json").status_code == 404


def test_agency_staff_may_not_merge(dpkp_staff, operator):
    first, duplicate = new_incident("FIRE"), new_incident("FIRE")
    incidents.dispatch(first.pk, actor=operator)
    incidents.dispatch(duplicate.pk, actor=operator)
    assert merge(dpkp_staff, duplicate, first).status_code == 403


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_operators_merging_a_pair_either_way_at_once(cilegon):
    """A into B and B into A at the same moment: exactly one wins, the other gets a conflict,
    and no incident is left pointing at a closed one or merged twice."""
    users = [make_user(f"merger{n}", "operator") for n in range(2)]
    for _round in range(10):
        a, b = new_incident("FIRE"), new_incident("FIRE")
        start = threading.Barrier(2)
        outcomes = []

        def go(user, source, target, barrier=start, results=outcomes):
            try:
                barrier.wait()
                linking.merge(source.pk, target.pk, actor=user)
                results.append("won")
            except Conflict:
                results.append("conflict")
            finally:
                close_old_connections()

        threads = [
            threading.Thread(target=go, args=(users[0], a, b)),
            threading.Thread(target=go, args=(users[1], b, a)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict", "won"]
        statuses = sorted(
            Incident.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)
        )
        assert statuses == ["closed", "new"]


def link(user, call, incident):
    url = f"/api/v1/calls/{call.pk}/link/"
    return api_as(user).post(url, {"incident": incident.pk}, format="json")


def test_a_second_caller_is_linked_to_the_known_incident(operator):
    known = called_in("CAknown").incident
    second = called_in("CAsecond", caller="+6281299999999")
    own = second.incident
    response = link(operator, second, known)
    assert response.status_code == 200, response.content
    assert response.json()["incident"] == known.pk
    own.refresh_from_db()
    assert (own.status, own.merged_into_id) == ("closed", known.pk)  # it held nothing else


def test_a_call_leaves_an_incident_that_holds_other_calls_alone(operator):
    known = called_in("CAknown").incident
    first = called_in("CAfirst", caller="+6281299999999")
    shared = first.incident
    other = Call.objects.create(
        sid="CAother", from_number="+6281288888888", started_at=first.started_at, incident=shared
    )
    assert link(operator, first, known).status_code == 200
    shared.refresh_from_db()
    assert shared.status == "new" and shared.merged_into_id is None
    assert Call.objects.get(pk=other.pk).incident_id == shared.pk
    assert Call.objects.get(pk=first.pk).incident_id == known.pk
    told = IncidentEvent.objects.filter(incident=known, type="incident.updated").last()
    assert told.data["calls"] == [first.pk]
    assert first.pk in told.data["incident"]["calls"]


def test_linking_to_a_closed_or_unknown_incident(operator):
    closed = new_incident("FIRE")
    incidents.update_incident(closed.pk, actor=None, status="closed")
    call = called_in("CAlink")
    assert link(operator, call, closed).status_code == 409
    assert Call.objects.get(pk=call.pk).incident_id != closed.pk
    url = f"/api/v1/calls/{call.pk}/link/"
    assert api_as(operator).post(url, {"incident": 999999}, format="json").status_code == 404
    assert "incident" in api_as(operator).post(url, {}, format="json").json()
