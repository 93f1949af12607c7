"""Routing (CONTRACT §5 "Routing"): which rule wins, who gets an assignment, and the dispatch
endpoint's answers for overrides, repeats and closed incidents."""

from datetime import timedelta

import pytest
import time_machine

from agencies.models import Agency, Area, Category, EscalationPolicy, RoutingRule
from dispatch import routing
from dispatch.models import Assignment, Incident
from tests.conftest import api_as
from tests.dispatch.helpers import (
    KECAMATAN,
    KELURAHAN,
    assert_names,
    dispatched_incident,
    incident_url,
    new_incident,
    post_json,
)

OTHER_KECAMATAN = "36.72.01"  # Cibeber


def rule(agencies, category=None, area=None, priority=100, is_active=True):
    created = RoutingRule.objects.create(
        category=Category.objects.get(code=category) if category else None,
        area=Area.objects.get(code=area) if area else None,
        priority=priority,
        is_active=is_active,
    )
    created.agencies.set(Agency.objects.filter(code__in=agencies))
    return created


def routed_codes(incident):
    _rule, agencies = routing.route(incident.category, incident.area)
    return [agency.code for agency in agencies]


def dispatch(client, incident, data=None):
    return post_json(client, incident_url(incident.pk, "dispatch"), data)


@pytest.fixture
def ladder(cilegon):
    """One rule on each level of specificity for FIRE in Citangkil, each to its own agency.
    The more specific rules get the worse priority: specificity comes before priority. The
    seed's FIRE rule (category only, priority 100) sends to DPKP."""
    return {
        "category+area": rule(["BPBD"], "FIRE", KECAMATAN, priority=900),
        "category": RoutingRule.objects.get(category__code="FIRE", area=None),
        "area": rule(["SATPOLPP"], None, KECAMATAN, priority=5),
        "catch-all": rule(["DINSOS"], priority=1),
    }


@pytest.mark.parametrize(
    "switched_off, winner",
    [
        ([], "BPBD"),
        (["category+area"], "DPKP"),
        (["category+area", "category"], "SATPOLPP"),
        (["category+area", "category", "area"], "DINSOS"),
    ],
)
def test_most_specific_active_rule_wins(ladder, switched_off, winner):
    RoutingRule.objects.filter(pk__in=[ladder[level].pk for level in switched_off]).update(
        is_active=False
    )
    assert routed_codes(new_incident("FIRE", KELURAHAN)) == [winner]


def test_rules_for_another_category_or_kecamatan_do_not_match(ladder):
    assert routed_codes(new_incident("FIRE", f"{OTHER_KECAMATAN}.1001")) == ["DPKP"]
    assert routed_codes(new_incident("OTHER", f"{OTHER_KECAMATAN}.1001")) == ["DINSOS"]
    assert routed_codes(new_incident("OTHER", KELURAHAN)) == ["SATPOLPP"]


def test_incident_without_area_or_category_matches_only_any_rules(ladder):
    assert routed_codes(new_incident("FIRE", None)) == ["DPKP"]
    assert routed_codes(new_incident(None, KELURAHAN)) == ["SATPOLPP"]
    assert routed_codes(new_incident(None, None)) == ["DINSOS"]


def test_tie_goes_to_lowest_priority(cilegon):
    rule(["BPBD"], "FIRE", KECAMATAN, priority=50)
    winner = rule(["DLH"], "FIRE", KECAMATAN, priority=10)
    rule(["RSUD"], "FIRE", KECAMATAN, priority=30)
    incident = new_incident("FIRE", KELURAHAN)
    chosen, agencies = routing.route(incident.category, incident.area)
    assert chosen == winner
    assert [agency.code for agency in agencies] == ["DLH"]


def test_inactive_rule_is_ignored_even_when_more_specific(cilegon):
    rule(["BPBD"], "FIRE", KECAMATAN, priority=1, is_active=False)
    assert routed_codes(new_incident("FIRE", KELURAHAN)) == ["DPKP"]


def test_inactive_agency_of_winning_rule_is_skipped(cilegon):
    Agency.objects.filter(code="POLRES").update(is_active=False)
    assert routed_codes(new_incident("TRAFFIC")) == ["DISHUB", "PSC119"]


def test_kelurahan_routes_by_its_kecamatan(cilegon):
    rule(["RSUD"], "MEDICAL", KECAMATAN)
    kelurahan = Area.objects.get(code=KELURAHAN)
    assert kelurahan.parent.code == KECAMATAN
    assert routed_codes(new_incident("MEDICAL", KELURAHAN)) == ["RSUD"]
    assert routed_codes(new_incident("MEDICAL", KECAMATAN)) == ["RSUD"]
    assert routed_codes(new_incident("MEDICAL", f"{OTHER_KECAMATAN}.1002")) == ["PSC119"]


def test_dispatch_gives_every_agency_of_the_winning_rule_an_assignment(operator):
    incident = new_incident("TRAFFIC")
    response = dispatch(api_as(operator), incident)
    assert response.status_code == 200, response.data
    assert response.data["status"] == "dispatched"
    assert response.data["unroutable"] is False
    assert sorted(a["agency"] for a in response.data["assignments"]) == [
        "DISHUB",
        "POLRES",
        "PSC119",
    ]
    assert {a["status"] for a in response.data["assignments"]} == {"pending"}
    assert Assignment.objects.filter(incident=incident).count() == 3


def test_no_matching_rule_leaves_incident_new_and_unroutable(operator):
    incident = new_incident("OTHER")
    response = dispatch(api_as(operator), incident)
    assert response.status_code == 200, response.data
    assert response.data["unroutable"] is True
    assert response.data["status"] == "new"
    assert response.data["assignments"] == []
    assert not Assignment.objects.exists()
    assert incident.events.filter(type="incident.unroutable").count() == 1


def test_routing_preview_names_rule_and_agencies_without_dispatching(operator):
    incident = new_incident("TRAFFIC")
    response = api_as(operator).get(incident_url(incident.pk, "routing"))
    assert response.status_code == 200
    assert response.data == {
        "rule": RoutingRule.objects.get(category__code="TRAFFIC").pk,
        "agencies": ["DISHUB", "POLRES", "PSC119"],
    }
    assert not Assignment.objects.exists()


def test_routing_preview_answers_what_if_for_another_category_and_area(operator):
    rule(["RSUD"], "MEDICAL", KECAMATAN)
    incident = new_incident("FIRE", f"{OTHER_KECAMATAN}.1001")
    preview = api_as(operator).get(
        incident_url(incident.pk, "routing") + f"?category=MEDICAL&area={KELURAHAN}"
    )
    assert preview.status_code == 200, preview.data
    assert preview.data["agencies"] == ["RSUD"]
    incident.refresh_from_db()
    assert (incident.category.code, incident.area.code) == ("FIRE", f"{OTHER_KECAMATAN}.1001")


def test_routing_preview_with_empty_category_means_none_chosen(operator):
    incident = new_incident("FIRE")
    preview = api_as(operator).get(incident_url(incident.pk, "routing") + "?category=")
    assert preview.status_code == 200, preview.data
    assert preview.data == {"rule": None, "agencies": []}


@pytest.mark.parametrize("query", ["category=NOPE", "category=%00", "area=99", "area=%00"])
def test_routing_preview_with_unknown_code_is_400_naming_it(operator, query):
    incident = new_incident("FIRE")
    preview = api_as(operator).get(incident_url(incident.pk, "routing") + f"?{query}")
    assert_names(preview, query.split("=")[0])


def test_override_ignores_the_rules(operator):
    incident = new_incident("FIRE")
    response = dispatch(api_as(operator), incident, {"agencies": ["BPBD", "DLH"]})
    assert response.status_code == 200, response.data
    assert sorted(a["agency"] for a in response.data["assignments"]) == ["BPBD", "DLH"]


def test_override_routes_an_otherwise_unroutable_incident(operator):
    incident = new_incident("OTHER")
    response = dispatch(api_as(operator), incident, {"agencies": ["DINSOS"]})
    assert response.status_code == 200, response.data
    assert response.data["unroutable"] is False
    assert response.data["status"] == "dispatched"


@pytest.mark.parametrize(
    "codes", [["NOPE"], ["DPKP", "NOPE"], ["DISHUB"], [], "DPKP", [None], ["DPKP\x00"]]
)
def test_override_with_unknown_inactive_or_malformed_agencies_is_400(operator, codes):
    Agency.objects.filter(code="DISHUB").update(is_active=False)
    incident = new_incident("FIRE")
    response = dispatch(api_as(operator), incident, {"agencies": codes})
    assert_names(response, "agencies")
    assert not Assignment.objects.exists()


def test_dispatching_twice_to_the_same_agencies_is_409(operator):
    ops = api_as(operator)
    incident = new_incident("FIRE")
    assert dispatch(ops, incident).status_code == 200
    assert dispatch(ops, incident).status_code == 409
    assert dispatch(ops, incident, {"agencies": ["DPKP"]}).status_code == 409
    assert Assignment.objects.count() == 1


def test_second_dispatch_adds_only_the_agencies_not_yet_holding_it(operator):
    ops = api_as(operator)
    incident = new_incident("FIRE")
    dispatch(ops, incident)
    response = dispatch(ops, incident, {"agencies": ["DPKP", "BPBD"]})
    assert response.status_code == 200, response.data
    assert sorted(a["agency"] for a in response.data["assignments"]) == ["BPBD", "DPKP"]
    assert Assignment.objects.filter(agency__code="DPKP").count() == 1


def test_agency_that_declined_can_be_dispatched_again(operator):
    incident, assignments = dispatched_incident("FIRE")
    Assignment.objects.filter(pk=assignments["DPKP"].pk).update(status="declined")
    response = dispatch(api_as(operator), incident)
    assert response.status_code == 200, response.data
    assert Assignment.objects.filter(agency__code="DPKP", status="pending").count() == 1


@pytest.mark.parametrize("status", ["closed", "cancelled", "resolved"])
def test_dispatching_a_finished_incident_is_409(operator, status):
    incident = new_incident("FIRE")
    Incident.objects.filter(pk=incident.pk).update(status=status)
    assert dispatch(api_as(operator), incident).status_code == 409
    assert not Assignment.objects.exists()


@time_machine.travel("2026-11-28 09:00 +0700", tick=False)
def test_dispatch_copies_the_escalation_policy_onto_the_assignment(operator):
    policy = Agency.objects.get(code="DPKP").escalation_policy
    steps = list(policy.steps)
    incident = new_incident("FIRE")
    dispatch(api_as(operator), incident)
    assignment = Assignment.objects.get()
    assert assignment.escalation_steps == steps
    assert assignment.escalation_level == 0
    assert assignment.escalate_at == assignment.created_at + timedelta(
        seconds=steps[0]["after_seconds"]
    )

    policy.steps = [{"after_seconds": 5, "action": "reroute"}]
    policy.save()
    assignment.refresh_from_db()
    assert assignment.escalation_steps == steps


def test_agency_without_policy_gets_no_escalation_clock(operator):
    Agency.objects.filter(code="DPKP").update(escalation_policy=None)
    dispatch(api_as(operator), new_incident("FIRE"))
    assignment = Assignment.objects.get()
    assert assignment.escalation_steps == []
    assert assignment.escalate_at is None


def test_each_agency_gets_its_own_policy(operator):
    fast = EscalationPolicy.objects.create(
        name="fast", steps=[{"after_seconds": 15, "action": "call_agency"}]
    )
    Agency.objects.filter(code="PSC119").update(escalation_policy=fast)
    dispatch(api_as(operator), new_incident("TRAFFIC"))
    snapshots = {a.agency.code: a.escalation_steps for a in Assignment.objects.all()}
    assert snapshots["PSC119"] == fast.steps
    assert snapshots["POLRES"] == snapshots["DISHUB"] != fast.steps
