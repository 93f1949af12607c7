"""Bad input to the API (issue 8, defect 7): deeply nested JSON, an empty incident, a repeated
agency code, and what every API answer must be — never cached, and JSON even when the server
fails."""

import json
import logging

import pytest
from rest_framework.test import APIClient

from calls.intake import receive_call
from dispatch.models import Assignment, Incident
from tests.conftest import api_as
from tests.dispatch.helpers import API, KELURAHAN, incident_url, new_incident, post_json

INCIDENTS = f"{API}/incidents/"
TOKEN = f"{API}/auth/token/"
DEEP_BODIES = {"array": "[" * 5000, "object": '{"a":' * 5000}


@pytest.fixture
def ops(operator):
    return api_as(operator)


def send_json(client, method, url, body):
    return getattr(client, method)(url, body, content_type="application/json")


def assert_nesting_refused(response):
    assert response.status_code == 400, response.content[:300]
    assert "32" in response.json()["detail"]  # the limit, in whatever language


# --- deeply nested JSON ---------------------------------------------------------------------


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
def test_deeply_nested_json_to_the_anonymous_token_endpoint_is_a_400(cilegon, body):
    assert_nesting_refused(send_json(APIClient(), "post", TOKEN, body))


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("post", "incidents"),
        ("patch", "incident"),
        ("post", "dispatch"),
        ("patch", "call"),
        ("post", "escalation-policies"),
    ],
)
def test_deeply_nested_json_is_a_400_on_every_json_endpoint(admin_user, method, target, body):
    incident = new_incident()
    call, _created = receive_call({"CallSid": "CAdeep", "From": "081234567890"})
    url = {
        "incidents": INCIDENTS,
        "incident": incident_url(incident.pk),
        "dispatch": incident_url(incident.pk, "dispatch"),
        "call": f"{API}/calls/{call.pk}/",
        "escalation-policies": f"{API}/escalation-policies/",
    }[target]
    assert_nesting_refused(send_json(api_as(admin_user), method, url, body))


def test_nesting_short_of_the_recursion_limit_is_refused_too(ops):
    # Parsed fine by Python, but deeper than any request of ours: refused before a field sees it.
    body = json.dumps({"description": "x", "address": json.loads("[" * 200 + "]" * 200)})
    assert_nesting_refused(send_json(ops, "post", INCIDENTS, body))


def test_ordinary_json_still_parses(ops):
    body = json.dumps({"description": "Pohon tumbang", "area": KELURAHAN})
    assert send_json(ops, "post", INCIDENTS, body).status_code == 201


# --- an incident made by hand needs something to go on -----------------------------------------


def test_an_empty_incident_is_refused_naming_what_it_needs(ops):
    response = post_json(ops, INCIDENTS, {})
    assert response.status_code == 400
    message = " ".join(response.data["non_field_errors"])
    for field in ("description", "category", "area", "address", "caller_phone"):
        assert field in message
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "fields", [{"description": "   "}, {"priority": 2}, {"caller_name": "Budi"}, {"category": None}]
)
def test_an_incident_with_nothing_to_go_on_is_refused(ops, fields):
    assert post_json(ops, INCIDENTS, fields).status_code == 400
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "Kebakaran"},
        {"category": "FIRE"},
        {"area": KELURAHAN},
        {"address": "Jl. Sudirman 5"},
        {"caller_phone": "081234567890"},
    ],
)
def test_any_one_of_them_is_enough(ops, fields):
    assert post_json(ops, INCIDENTS, fields).status_code == 201


def test_an_edit_may_still_send_only_what_changes(ops):
    incident = new_incident()
    response = ops.patch(incident_url(incident.pk), {"priority": 2}, format="json")
    assert response.status_code == 200, response.data


# --- a repeated agency code ---------------------------------------------------------------------


def test_dispatching_to_the_same_agency_twice_in_one_request_makes_one_assignment(ops):
    incident = new_incident()
    response = post_json(ops, incident_url(incident.pk, "dispatch"), {"agencies": ["DLH", "DLH"]})
    assert response.status_code == 200, response.data
    assert list(Assignment.objects.values_list("agency__code", flat=True)) == ["DLH"]


# --- no API answer is cached --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["incidents/", "calls/", "me/", "assignments/", "nope/"])
def test_api_answers_are_never_stored_by_a_cache(ops, path):
    new_incident(caller_phone="+6281234567890")
    response = ops.get(f"{API}/{path}")
    assert "no-store" in response["Cache-Control"]


def test_the_token_answer_is_never_stored_by_a_cache(operator):
    body = {"username": operator.username, "password": "s3cure-Pass-112"}
    response = APIClient().post(TOKEN, body, format="json")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_pages_outside_the_api_keep_their_own_caching(client):
    assert "no-store" not in client.get("/healthz/").get("Cache-Control", "")


# --- an API failure is JSON ---------------------------------------------------------------------


@pytest.fixture
def broken_incident_list(monkeypatch):
    def broken(rows, user):
        raise RuntimeError("the incident list is broken")

    monkeypatch.setattr("dispatch.api.rows.incidents", broken)


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_api_failure_is_a_json_500_and_is_logged(
    ops, broken_incident_list, settings, caplog, debug
):
    settings.DEBUG = debug
    response = ops.get(INCIDENTS)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["detail"]
    assert "no-store" in response["Cache-Control"]
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert [r.exc_info[1].args[0] for r in logged] == ["the incident list is broken"]


class BrokenMiddleware:
    """A failure before any view runs (a middleware, a bad deployment)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise RuntimeError("broken before the view")


def test_a_failure_outside_drf_is_still_json_on_the_api(settings):
    settings.DEBUG = False
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.BrokenMiddleware"]
    client = APIClient(raise_request_exception=False)
    api = client.get(f"{API}/incidents/")
    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert api.json() == {"detail": "Internal server error."}
    page = client.get("/accounts/login/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
