"""The routing simulator (CONTRACT §11): `GET /routing/simulate/?category=&area=` answers what
dispatch would do with such an incident — on every routing case — and who may ask."""

import pytest

from agencies.models import Agency, Category, RoutingRule, User
from dispatch import incidents
from tests.conftest import api_as, make_user
from tests.dispatch.helpers import (
    KECAMATAN,
    KELURAHAN,
    api_url,
    assert_names,
    incident_url,
    new_incident,
)
from tests.dispatch.test_routing import rule

SIMULATE = f"{api_url('routing')}simulate/"
PULOMERAK = "36.72.03"
SURALAYA = "36.72.03.1004"
CIBEBER_KELURAHAN = "36.72.01.1001"
AREAS = [KELURAHAN, KECAMATAN, SURALAYA, PULOMERAK, CIBEBER_KELURAHAN]
CATEGORIES = [
    "FIRE",
    "MEDICAL",
    "TRAFFIC",
    "CRIME",
    "DISASTER",
    "INDUSTRIAL",
    "RESCUE",
    "TREE",
    "PUBLIC_ORDER",
    "SOCIAL",
    "VIOLENCE",
    "INFRA",
    "OTHER",
]


def simulate(client, **query):
    return client.get(SIMULATE, query)


@pytest.fixture(params=["seeded", "every level"])
def rules(request, cilegon):
    """The seed's rules (one per category, OTHER unroutable), or those plus a rule on every
    level of specificity, a priority tie, a switched-off rule and a switched-off agency."""
    if request.param == "every level":
        rule(["BPBD"], "FIRE", PULOMERAK, priority=900)
        rule(["SATPOLPP"], None, PULOMERAK, priority=5)
        rule(["DINSOS"], None, None, priority=1)
        rule(["RSUD"], "MEDICAL", KECAMATAN, priority=20)
        rule(["DLH"], "MEDICAL", KECAMATAN, priority=10)
        rule(["BPBD"], "TRAFFIC", KECAMATAN, priority=1, is_active=False)
        Agency.objects.filter(code="POLRES").update(is_active=False)
    return request.param


def test_the_catalogue_of_cases_covers_every_category(cilegon):
    assert sorted(CATEGORIES) == sorted(Category.objects.values_list("code", flat=True))


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_the_simulator_agrees_with_dispatch(rules, operator, category, area):
    client = api_as(operator)
    simulated = simulate(client, category=category, area=area)
    assert simulated.status_code == 200, simulated.data

    incident = new_incident(category, area)
    previewed = client.get(incident_url(incident.pk, "routing"))
    assigned = incidents.dispatch(incident.pk, actor=None)
    incident.refresh_from_db()

    assert simulated.data == previewed.data
    assert simulated.data["agencies"] == sorted(a.agency.code for a in assigned)
    # A winning rule whose agencies are all switched off routes nowhere, too (CRIME to POLRES).
    assert incident.unroutable is (simulated.data["agencies"] == [])


def test_a_kelurahan_routes_like_its_kecamatan(cilegon, operator):
    rule(["RSUD"], "MEDICAL", KECAMATAN)
    client = api_as(operator)
    by_kelurahan = simulate(client, category="MEDICAL", area=KELURAHAN)
    by_kecamatan = simulate(client, category="MEDICAL", area=KECAMATAN)
    assert by_kelurahan.data == by_kecamatan.data
    assert by_kelurahan.data["agencies"] == ["RSUD"]


def test_the_answer_names_the_winning_rule(cilegon, operator):
    response = simulate(api_as(operator), category="TRAFFIC", area=SURALAYA)
    assert response.status_code == 200, response.data
    assert response.data == {
        "agencies": ["DISHUB", "POLRES", "PSC119"],
        "rule": RoutingRule.objects.get(category__code="TRAFFIC").pk,
    }


def test_no_matching_rule_is_no_agency_and_no_rule(cilegon, operator):
    response = simulate(api_as(operator), category="OTHER", area=SURALAYA)
    assert response.status_code == 200, response.data
    assert response.data == {"agencies": [], "rule": None}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"area": KELURAHAN}, "category"),
        ({"category": "FIRE"}, "area"),
        ({"category": "", "area": KELURAHAN}, "category"),
        ({"category": "NOPE", "area": KELURAHAN}, "category"),
        ({"category": "FIRE\x00", "area": KELURAHAN}, "category"),
        ({"category": "FIRE", "area": "99.99"}, "area"),
        ({"category": "FIRE", "area": "36.72.08\x00"}, "area"),
    ],
)
def test_a_missing_or_unknown_code_is_400_naming_the_field(cilegon, operator, query, field):
    assert_names(simulate(api_as(operator), **query), field)


@pytest.mark.parametrize(
    "role, status",
    [
        (User.Role.ADMIN, 200),
        (User.Role.SUPERVISOR, 200),
        (User.Role.OPERATOR, 200),
        (User.Role.AGENCY_STAFF, 403),
    ],
)
def test_the_command_centre_may_simulate_and_agency_staff_may_not(cilegon, role, status):
    user = make_user("someone", role, "DPKP" if role == User.Role.AGENCY_STAFF else None)
    assert simulate(api_as(user), category="FIRE", area=KELURAHAN).status_code == status


def test_anonymous_is_refused(cilegon):
    assert simulate(api_as(None), category="FIRE", area=KELURAHAN).status_code == 401
