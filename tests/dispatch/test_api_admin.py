"""Signing in (token and session), the reference data only admins may change (categories,
agencies, routing rules, escalation policies, users), and the OpenAPI description."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from agencies.models import Agency, Category, EscalationPolicy, RoutingRule, User
from dispatch import routing
from dispatch.models import Incident
from tests.conftest import api_as, make_user
from tests.dispatch.helpers import (
    API,
    KECAMATAN,
    api_url,
    assert_names,
    new_incident,
    patch_json,
    post_json,
)

PASSWORD = "s3cure-Pass-112"  # make_user's
NOT_ADMIN = ["operator", "supervisor", "dpkp_staff"]
RULES = api_url("routing-rules")
POLICIES = api_url("escalation-policies")
USERS = api_url("users")


def token_for(username, password=PASSWORD):
    return APIClient().post(
        f"{API}/auth/token/", {"username": username, "password": password}, format="json"
    )


def token_client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def admin(admin_user):
    return api_as(admin_user)


@pytest.fixture(params=NOT_ADMIN)
def not_admin(request):
    return api_as(request.getfixturevalue(request.param))


# Tokens.


def test_token_from_username_and_password_authenticates(operator):
    response = token_for("op")
    assert response.status_code == 200
    assert set(response.data) == {"token"}
    me = token_client(response.data["token"]).get(f"{API}/me/")
    assert me.status_code == 200
    assert me.data == {"username": "op", "role": "operator", "agency": None}


def test_token_is_stable_per_user(operator):
    assert token_for("op").data["token"] == token_for("op").data["token"]


def test_token_post_needs_no_csrf(operator):
    client = token_client(token_for("op").data["token"])
    client.enforce_csrf_checks = True
    assert post_json(client, f"{API}/incidents/", {"description": "x"}).status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "op", "password": "wrong"}, "non_field_errors"),
        ({"username": "nobody", "password": PASSWORD}, "non_field_errors"),
        ({"username": "op"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "op\x00", "password": PASSWORD}, "username"),
    ],
)
def test_bad_credentials_are_400(operator, body, field):
    response = APIClient().post(f"{API}/auth/token/", body, format="json")
    assert_names(response, field)
    assert "token" not in response.data


def test_deactivated_user_gets_no_token(operator):
    User.objects.filter(pk=operator.pk).update(is_active=False)
    assert token_for("op").status_code == 400


@pytest.mark.parametrize("header", ["Token nonsense", "Token ", "Bearer abc", "Token a b"])
def test_bad_authorization_header_is_401(cilegon, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(f"{API}/me/").status_code == 401


def test_me_names_the_agency_of_staff(dpkp_staff):
    me = token_client(token_for("dpkp_staff").data["token"]).get(f"{API}/me/")
    assert me.data == {"username": "dpkp_staff", "role": "agency_staff", "agency": "DPKP"}


# Sessions, as a browser uses the API.


@pytest.fixture
def browser(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    return client


def csrf_token(client):
    client.get("/accounts/login/")
    return client.cookies["csrftoken"].value


def test_session_reads_without_csrf(browser):
    assert browser.get(f"{API}/me/").json()["username"] == "op"


def test_session_post_without_csrf_is_403(browser):
    response = browser.post(f"{API}/incidents/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_session_post_with_csrf_token_is_accepted(browser):
    response = browser.post(
        f"{API}/incidents/",
        {"description": "dari konsol"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf_token(browser),
    )
    assert response.status_code == 201, response.content


# Categories and agencies: everyone reads, admins write.


@pytest.mark.parametrize("role", ["operator", "dpkp_staff"])
def test_everyone_signed_in_reads_categories_and_agencies(role, request):
    client = api_as(request.getfixturevalue(role))
    categories = client.get(f"{API}/categories/")
    assert "FIRE" in [row["code"] for row in categories.data["results"]]
    assert client.get(f"{API}/categories/FIRE/").data == {
        "code": "FIRE",
        "name": "Kebakaran",
        "default_priority": 1,
    }
    agency = client.get(f"{API}/agencies/DPKP/").data
    assert {"code", "name", "phone", "is_active", "escalation_policy"} <= set(agency)
    assert agency["phone"] == "+62254377113"
    assert client.get(f"{API}/areas/{KECAMATAN}/").data["kind"] == "kecamatan"


def test_unknown_code_is_404(operator):
    assert api_as(operator).get(f"{API}/agencies/NOPE/").status_code == 404
    assert api_as(operator).get(f"{API}/categories/NOPE/").status_code == 404


def test_non_admin_cannot_change_categories_or_agencies(not_admin):
    assert post_json(not_admin, f"{API}/categories/", {"code": "X", "name": "X"}).status_code == 403
    assert patch_json(not_admin, f"{API}/categories/FIRE/", {"name": "X"}).status_code == 403
    assert not_admin.delete(f"{API}/categories/FIRE/").status_code == 403
    assert post_json(not_admin, f"{API}/agencies/", {"code": "X", "name": "X"}).status_code == 403
    assert patch_json(not_admin, f"{API}/agencies/DPKP/", {"is_active": False}).status_code == 403
    assert Agency.objects.get(code="DPKP").is_active
    assert Category.objects.get(code="FIRE").name == "Kebakaran"


def test_admin_creates_and_edits_a_category(admin):
    body = {"code": "ANIMAL", "name": "Hewan liar", "default_priority": 3}
    assert post_json(admin, f"{API}/categories/", body).status_code == 201
    response = patch_json(admin, f"{API}/categories/ANIMAL/", {"default_priority": 2})
    assert response.status_code == 200, response.data
    assert Category.objects.get(code="ANIMAL").default_priority == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"code": "X", "name": "X", "default_priority": 0}, "default_priority"),
        ({"code": "X", "name": "X", "default_priority": 5}, "default_priority"),
        ({"code": "FIRE", "name": "X", "default_priority": 1}, "code"),
        ({"code": "X\x00", "name": "X", "default_priority": 1}, "code"),
        ({"name": "X", "default_priority": 1}, "code"),
    ],
)
def test_bad_category_is_400(admin, body, field):
    response = post_json(admin, f"{API}/categories/", body)
    assert_names(response, field)


def test_admin_edits_an_agency_by_code(admin):
    response = patch_json(
        admin, f"{API}/agencies/DPKP/", {"is_active": False, "phone": "0254-377114"}
    )
    assert response.status_code == 200, response.data
    assert response.data["phone"] == "+62254377114"
    assert not Agency.objects.get(code="DPKP").is_active


def test_admin_creates_an_agency_with_a_policy_or_none(admin):
    policy = EscalationPolicy.objects.get()
    body = {"code": "BASARNAS", "name": "Basarnas Banten", "escalation_policy": policy.pk}
    response = post_json(admin, f"{API}/agencies/", body)
    assert response.status_code == 201, response.data
    assert response.data["escalation_policy"] == policy.pk
    response = patch_json(admin, f"{API}/agencies/BASARNAS/", {"escalation_policy": None})
    assert response.status_code == 200
    assert Agency.objects.get(code="BASARNAS").escalation_policy is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"phone": "abc"}, "phone"),
        ({"escalation_policy": 999999}, "escalation_policy"),
        ({"escalation_policy": 10**30}, "escalation_policy"),
        ({"escalation_policy": "Standar 112"}, "escalation_policy"),
        ({"is_active": "maybe"}, "is_active"),
        ({"code": "PSC119"}, "code"),
    ],
)
def test_bad_agency_edit_is_400(admin, body, field):
    response = patch_json(admin, f"{API}/agencies/DPKP/", body)
    assert_names(response, field)


# Routing rules: admins only.


def test_routing_rules_are_admin_only(not_admin):
    assert not_admin.get(RULES).status_code == 403
    assert post_json(not_admin, RULES, {"agencies": ["DPKP"]}).status_code == 403


def test_admin_lists_rules_with_codes(admin):
    rows = admin.get(RULES).data["results"]
    traffic = next(row for row in rows if row["category"] == "TRAFFIC")
    assert traffic["area"] is None
    assert sorted(traffic["agencies"]) == ["DISHUB", "POLRES", "PSC119"]
    assert traffic["is_active"] is True


def test_rule_created_by_admin_takes_effect(admin):
    body = {"category": "FIRE", "area": KECAMATAN, "agencies": ["DPKP", "BPBD"], "priority": 5}
    response = post_json(admin, RULES, body)
    assert response.status_code == 201, response.data
    fire = new_incident("FIRE")
    rule, agencies = routing.route(fire.category, fire.area)
    assert rule.pk == response.data["id"]
    assert [agency.code for agency in agencies] == ["BPBD", "DPKP"]

    switch_off = patch_json(admin, api_url("routing-rules", rule.pk), {"is_active": False})
    assert switch_off.status_code == 200
    rule, _agencies = routing.route(fire.category, fire.area)
    assert rule.pk != response.data["id"]


def test_catch_all_rule_has_null_category_and_area(admin):
    response = post_json(admin, RULES, {"agencies": ["SATPOLPP"], "category": None})
    assert response.status_code == 201, response.data
    assert (response.data["category"], response.data["area"]) == (None, None)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"agencies": ["DPKP"], "area": f"{KECAMATAN}.1007"}, "area"),  # a kelurahan
        ({"agencies": ["DPKP"], "area": "99"}, "area"),
        ({"agencies": ["DPKP"], "category": "NOPE"}, "category"),
        ({"agencies": ["DPKP"], "category": "FIRE\x00"}, "category"),
        ({"agencies": ["NOPE"]}, "agencies"),
        ({"agencies": ["DPKP\x00"]}, "agencies"),
        ({"agencies": []}, "agencies"),
        ({}, "agencies"),
        ({"agencies": ["DPKP"], "priority": "high"}, "priority"),
    ],
)
def test_bad_rule_is_400(admin, body, field):
    before = RoutingRule.objects.count()
    response = post_json(admin, RULES, body)
    assert_names(response, field)
    assert RoutingRule.objects.count() == before


# Escalation policies: admins only; steps validated.


def test_escalation_policies_are_admin_only(not_admin):
    assert not_admin.get(POLICIES).status_code == 403
    assert post_json(not_admin, POLICIES, {"name": "x", "steps": []}).status_code == 403


def test_admin_creates_a_policy(admin):
    steps = [
        {"after_seconds": 30, "action": "notify_agency"},
        {"after_seconds": 90, "action": "sms_agency"},
        {"after_seconds": 300, "action": "reroute"},
    ]
    response = post_json(admin, POLICIES, {"name": "Cepat", "steps": steps})
    assert response.status_code == 201, response.data
    assert EscalationPolicy.objects.get(name="Cepat").steps == steps


def step(after_seconds=60, action="notify_agency", **extra):
    return {"after_seconds": after_seconds, "action": action, **extra}


@pytest.mark.parametrize(
    "steps",
    [
        [step(0)],
        [step(-5)],
        [step(60), step(60)],
        [step(120), step(60)],
        [step(60, "email_agency")],
        [step(60, "NOTIFY_AGENCY")],
        [step(60, note="x")],
        [{"after_seconds": 60}],
        [{"action": "notify_agency"}],
        [step("60")],
        [step(1.5)],
        [step(True)],
        [step(7 * 24 * 3600 + 1)],
        [step(60), step(10**12)],  # would overflow the dispatch's date arithmetic
        [step(None)],
        [step(60, None)],
        [step(60, ["notify_agency"])],
        ["notify_agency"],
        [[60, "notify_agency"]],
        {"after_seconds": 60, "action": "notify_agency"},
        "notify_agency",
        None,
    ],
)
def test_bad_steps_are_400_naming_steps(admin, steps):
    response = post_json(admin, POLICIES, {"name": "Salah", "steps": steps})
    assert_names(response, "steps")
    assert not EscalationPolicy.objects.filter(name="Salah").exists()


def test_a_week_is_the_latest_step(admin):
    body = {"name": "Lambat", "steps": [step(7 * 24 * 3600)]}
    assert post_json(admin, POLICIES, body).status_code == 201


def test_bad_steps_on_edit_leave_the_policy_alone(admin):
    policy = EscalationPolicy.objects.get()
    before = list(policy.steps)
    response = patch_json(
        admin, api_url("escalation-policies", policy.pk), {"steps": [step(10), step(5)]}
    )
    assert_names(response, "steps")
    policy.refresh_from_db()
    assert policy.steps == before


# Users: admins only.


def new_user(**fields):
    return {"username": "rina", "password": "Kuat-Sekali-112", "role": "operator", **fields}


def test_users_are_admin_only(not_admin):
    assert not_admin.get(USERS).status_code == 403
    assert post_json(not_admin, USERS, new_user()).status_code == 403


def test_admin_creates_staff_who_can_then_sign_in(admin):
    body = new_user(role="agency_staff", agency="DPKP", phone="0812-3456-7890")
    response = post_json(admin, USERS, body)
    assert response.status_code == 201, response.data
    assert "password" not in response.data
    assert response.data["agency"] == "DPKP"
    assert response.data["phone"] == "+6281234567890"
    user = User.objects.get(username="rina")
    assert user.check_password("Kuat-Sekali-112")
    assert token_for("rina", "Kuat-Sekali-112").status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        (new_user(role="agency_staff"), "agency"),
        (new_user(role="agency_staff", agency=None), "agency"),
        (new_user(role="agency_staff", agency="NOPE"), "agency"),
        (new_user(role="agency_staff", agency="DPKP\x00"), "agency"),
        (new_user(agency="DPKP"), "agency"),
        (new_user(password="12345678"), "password"),
        (new_user(password="password"), "password"),
        (new_user(password="Ab1"), "password"),
        (new_user(username="rinaoperator", password="rinaoperator"), "password"),
        (new_user(password=""), "password"),
        ({"username": "rina", "role": "operator"}, "password"),
        (new_user(role="boss"), "role"),
        (new_user(username="adm"), "username"),
        (new_user(phone="abc"), "phone"),
    ],
)
def test_bad_user_is_400(admin, body, field):
    response = post_json(admin, USERS, body)
    assert_names(response, field)
    assert not User.objects.filter(username__startswith="rina").exists()


def test_role_change_must_fit_the_agency(admin, dpkp_staff):
    url = api_url("users", dpkp_staff.pk)
    assert patch_json(admin, url, {"role": "operator"}).status_code == 400
    response = patch_json(admin, url, {"role": "operator", "agency": None})
    assert response.status_code == 200, response.data
    assert response.data["agency"] is None


def test_password_change_is_validated_and_applied(admin, operator):
    url = api_url("users", operator.pk)
    assert patch_json(admin, url, {"password": "123"}).status_code == 400
    assert patch_json(admin, url, {"password": "Baru-Lagi-112"}).status_code == 200
    assert token_for("op", PASSWORD).status_code == 400
    assert token_for("op", "Baru-Lagi-112").status_code == 200


def test_delete_deactivates_instead_of_deleting(admin, operator):
    token = token_for("op").data["token"]
    assert admin.delete(api_url("users", operator.pk)).status_code == 204
    operator.refresh_from_db()
    assert operator.is_active is False
    assert token_client(token).get(f"{API}/me/").status_code == 401


def test_admins_list_users_without_passwords(admin, dpkp_staff):
    rows = admin.get(USERS).data["results"]
    staff = next(row for row in rows if row["username"] == "dpkp_staff")
    assert staff["agency"] == "DPKP"
    assert all("password" not in row for row in rows)


def test_superuser_without_admin_role_is_admin(cilegon):
    root = make_user("root", User.Role.OPERATOR)
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    root.refresh_from_db()
    assert api_as(root).get(USERS).status_code == 200


# The OpenAPI description.


def test_openapi_schema_describes_the_api(cilegon):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in ("incidents/", "incidents/{id}/dispatch/", "assignments/{id}/acknowledge/"):
        assert f"/api/v1/{path}" in schema["paths"]
    for path in ("incidents/{id}/", "assignments/{id}/"):
        [parameter] = schema["paths"][f"/api/v1/{path}"]["get"]["parameters"]
        assert parameter["schema"]["type"] == "integer"


def list_parameters(schema, path):
    return {p["name"]: p for p in schema["paths"][f"/api/v1/{path}"]["get"]["parameters"]}


def test_openapi_schema_documents_the_list_filters(cilegon):
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    calls = list_parameters(schema, "calls/")
    assert {"status", "queue_state", "direction", "missed", "from_number"} <= calls.keys()
    assert calls["status"]["schema"]["type"] == "array"  # `?status=a,b`
    assert calls["status"]["explode"] is False
    assert "ringing" in calls["status"]["schema"]["items"]["enum"]
    assert calls["missed"]["schema"]["type"] == "boolean"
    incidents = list_parameters(schema, "incidents/")
    assert {"status", "open"} <= incidents.keys()
    assert set(incidents["status"]["schema"]["items"]["enum"]) == set(Incident.Status.values)
    assignments = list_parameters(schema, "assignments/")
    assert assignments["incident"]["schema"]["type"] == "integer"
    assert {"status", "agency", "escalated", "incident_status"} <= assignments.keys()


ENVELOPE_FIELDS = {"type", "seq", "event", "at", "actor", "incident", "data"}


def test_openapi_schema_documents_the_event_envelope_once(cilegon):
    """The socket, the replay and the timeline share one envelope, and the schema says so."""
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    components = schema["components"]["schemas"]
    envelope = components["EventEnvelope"]
    assert set(envelope["properties"]) == ENVELOPE_FIELDS
    assert set(envelope["required"]) == ENVELOPE_FIELDS
    assert envelope["properties"]["incident"] == {
        "type": "integer",
        "readOnly": True,
        "nullable": True,
        "description": "The incident it is about.",
    }
    assert envelope["properties"]["actor"]["nullable"] is True
    assert envelope["properties"]["data"]["type"] == "object"
    assert [name for name in components if "Event" in name or "Timeline" in name] == [
        "EventEnvelope",
        "PaginatedEventEnvelopeList",
    ]
    for path in ("/api/v1/events/", "/api/v1/incidents/{id}/events/"):
        response = schema["paths"][path]["get"]["responses"]["200"]
        reference = response["content"]["application/json"]["schema"]["$ref"]
        assert reference == "#/components/schemas/PaginatedEventEnvelopeList", path


def test_swagger_ui_is_served(cilegon):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
