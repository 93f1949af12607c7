"""Issue 11, history: /history/ for every role, its search (the API's filter) and its cost."""

import pytest
from django.test import Client

from dispatch.models import Incident
from tests.conftest import make_user
from tests.dispatch.helpers import dispatched_incident, new_incident

PAGE = "/history/"
CALLER = "+6281234567890"


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def closed(incident, reason="prank"):
    Incident.objects.filter(pk=incident.pk).update(status="closed", close_reason=reason)
    return incident


def references(response):
    return [incident.reference for incident in response.context["page"].object_list]


def test_anonymous_visitors_are_sent_to_sign_in(cilegon):
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["operator", "supervisor", "admin"])
def test_the_command_centre_sees_every_ended_incident_and_may_reopen(cilegon, role):
    fire, _ = dispatched_incident("FIRE", agencies=["DPKP"])
    closed(fire)
    closed(new_incident())
    open_one = new_incident()
    response = signed_in(make_user(f"{role}1", role)).get(PAGE)
    assert response.status_code == 200
    assert len(references(response)) == 2
    assert open_one.reference not in references(response)
    page = response.content.decode()
    assert 'id="reopen"' in page
    assert 'name="agency"' in page
    assert 'href="/history/" aria-current="page"' in page


def test_agency_staff_see_only_their_agencys_history_and_cannot_reopen(dpkp_staff):
    theirs, _ = dispatched_incident("FIRE", agencies=["DPKP"])
    others, _ = dispatched_incident("MEDICAL", agencies=["PSC119"])
    closed(theirs)
    closed(others)
    response = signed_in(dpkp_staff).get(PAGE)
    assert response.status_code == 200
    assert references(response) == [theirs.reference]
    page = response.content.decode()
    assert 'id="reopen"' not in page
    assert 'name="agency"' not in page


def test_the_search_finds_the_caller_by_number_with_its_reason(operator):
    mine = closed(new_incident(caller_phone=CALLER), "false_alarm")
    closed(new_incident(caller_phone="+6281299998888"))
    response = signed_in(operator).get(PAGE, {"q": "0812-3456-7890"})
    assert references(response) == [mine.reference]
    assert "Alarm palsu" in response.content.decode()


def test_a_status_narrows_the_ended_ones(operator):
    closed(new_incident())
    resolved = new_incident()
    Incident.objects.filter(pk=resolved.pk).update(status="resolved")
    response = signed_in(operator).get(PAGE, {"status": "resolved"})
    assert references(response) == [resolved.reference]


def test_a_bad_search_is_400_naming_the_field(operator):
    response = signed_in(operator).get(PAGE, {"created_after": "kemarin"})
    assert response.status_code == 400
    assert "created_after" in response.content.decode()
    assert references(response) == []


def test_the_page_is_paginated_newest_first_and_keeps_the_search(operator):
    made = [closed(new_incident(description="banjir")) for _ in range(27)]
    client = signed_in(operator)
    first = client.get(PAGE, {"q": "banjir"})
    assert references(first)[0] == made[-1].reference
    assert len(references(first)) == 25
    assert "q=banjir&amp;page=2" in first.content.decode()
    second = client.get(PAGE, {"q": "banjir", "page": "2"})
    assert references(second) == [made[1].reference, made[0].reference]


def test_the_page_costs_a_fixed_number_of_queries(operator, django_assert_max_num_queries):
    for _ in range(10):
        incident, _ = dispatched_incident("FIRE", agencies=["DPKP", "PSC119"])
        closed(incident)
    client = signed_in(operator)
    with django_assert_max_num_queries(12):
        response = client.get(PAGE, {"category": "FIRE", "agency": "DPKP"})
    assert len(references(response)) == 10
