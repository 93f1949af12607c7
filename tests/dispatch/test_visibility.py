"""Who sees what (CONTRACT §5 "Visibility"): the command centre sees everything; agency staff
see only the incidents their agency holds, only their agency's assignments and only the events
about them; anything else is a 404, never a 403 that would confirm it exists."""

import pytest

from dispatch.models import Assignment, IncidentEvent
from tests.conftest import api_as
from tests.dispatch.helpers import (
    API,
    acknowledge,
    assignment_url,
    dispatched_incident,
    ids,
    incident_url,
    new_incident,
    patch_json,
    post_json,
    report,
    results,
)

COMMAND_CENTRE = ["operator", "supervisor", "admin_user"]


@pytest.fixture
def world(cilegon):
    """FIRE held by DPKP, MEDICAL by PSC119, TRAFFIC by POLRES + PSC119 + DISHUB, and one
    incident nobody holds yet."""
    fire, fire_assignments = dispatched_incident("FIRE")
    medical, medical_assignments = dispatched_incident("MEDICAL")
    traffic, traffic_assignments = dispatched_incident("TRAFFIC")
    return {
        "fire": fire,
        "medical": medical,
        "traffic": traffic,
        "undispatched": new_incident("OTHER"),
        "assignments": {
            "fire": fire_assignments,
            "medical": medical_assignments,
            "traffic": traffic_assignments,
        },
    }


@pytest.fixture
def psc(psc_staff):
    return api_as(psc_staff)


def replay(client, after=0):
    return results(client.get(f"{API}/events/?after={after}&page_size=500"))


# Anonymous callers.

ENDPOINTS = [
    ("get", "/me/"),
    ("get", "/areas/"),
    ("get", "/categories/"),
    ("get", "/agencies/"),
    ("get", "/agencies/DPKP/"),
    ("get", "/routing-rules/"),
    ("get", "/escalation-policies/"),
    ("get", "/users/"),
    ("get", "/calls/"),
    ("get", "/incidents/"),
    ("post", "/incidents/"),
    ("get", "/incidents/{incident}/"),
    ("patch", "/incidents/{incident}/"),
    ("post", "/incidents/{incident}/dispatch/"),
    ("get", "/incidents/{incident}/routing/"),
    ("get", "/incidents/{incident}/events/"),
    ("get", "/assignments/"),
    ("get", "/assignments/{assignment}/"),
    ("post", "/assignments/{assignment}/acknowledge/"),
    ("post", "/assignments/{assignment}/status/"),
    ("get", "/notifications/"),
    ("get", "/events/?after=0"),
]


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_anonymous_is_refused_everywhere(world, method, path):
    fire = world["fire"]
    url = API + path.format(incident=fire.pk, assignment=world["assignments"]["fire"]["DPKP"].pk)
    response = getattr(api_as(None), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


def test_anonymous_changes_nothing(world):
    anonymous = api_as(None)
    before = IncidentEvent.objects.count()
    post_json(anonymous, f"{API}/incidents/")
    post_json(anonymous, assignment_url(world["assignments"]["fire"]["DPKP"].pk, "acknowledge"))
    assert IncidentEvent.objects.count() == before
    assert not Assignment.objects.exclude(status="pending").exists()


# The command centre.


@pytest.mark.parametrize("role", COMMAND_CENTRE)
def test_command_centre_sees_every_incident_assignment_and_event(world, role, request):
    client = api_as(request.getfixturevalue(role))
    incidents = [world[name] for name in ("fire", "medical", "traffic", "undispatched")]
    assert ids(client.get(f"{API}/incidents/")) == sorted(i.pk for i in incidents)
    assert ids(client.get(f"{API}/assignments/")) == sorted(
        Assignment.objects.values_list("pk", flat=True)
    )
    assert len(replay(client)) == IncidentEvent.objects.count()
    traffic = client.get(incident_url(world["traffic"].pk)).data
    assert sorted(a["agency"] for a in traffic["assignments"]) == ["DISHUB", "POLRES", "PSC119"]
    assert client.get(f"{API}/calls/").status_code == 200


# Agency staff.


def test_staff_see_only_incidents_their_agency_holds(world, psc):
    assert ids(psc.get(f"{API}/incidents/")) == sorted([world["medical"].pk, world["traffic"].pk])


def test_staff_see_only_their_agencys_nested_assignments(world, psc):
    detail = psc.get(incident_url(world["traffic"].pk)).data
    for row in [detail, *results(psc.get(f"{API}/incidents/"))]:
        assert [a["agency"] for a in row["assignments"]] == ["PSC119"]


def test_staff_see_only_their_agencys_assignments(world, psc):
    mine = [world["assignments"][name]["PSC119"].pk for name in ("medical", "traffic")]
    assert ids(psc.get(f"{API}/assignments/")) == sorted(mine)
    assert ids(psc.get(f"{API}/assignments/?agency=DPKP")) == []
    traffic = world["traffic"].pk
    assert ids(psc.get(f"{API}/assignments/?incident={traffic}")) == [
        world["assignments"]["traffic"]["PSC119"].pk
    ]


def test_staff_see_only_events_about_them(world, psc, dpkp_staff):
    # Activity of another agency on a shared incident stays out of PSC119's replay.
    polres = world["assignments"]["traffic"]["POLRES"]
    Assignment.objects.filter(pk=polres.pk).update(status="declined")
    events = replay(psc)
    held = {world["medical"].pk, world["traffic"].pk}
    assert events, "PSC119 should see the events of its own incidents"
    for envelope in events:
        event = IncidentEvent.objects.get(seq=envelope["seq"])
        assert event.incident_id in held
        if event.type.startswith("assignment."):
            assert event.agency.code == "PSC119"
            assert envelope["data"]["assignment"]["agency"] == "PSC119"
        else:
            assert event.type.startswith("incident.")
    expected = IncidentEvent.objects.filter(incident_id__in=held).exclude(
        type__startswith="assignment.", agency__code__in=["POLRES", "DISHUB"]
    )
    assert [e["seq"] for e in events] == list(expected.values_list("seq", flat=True))


def test_replay_envelope_shape_and_order(world, psc):
    events = replay(psc)
    assert {"type", "seq", "data"} <= set(events[0])
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    last = events[-2]["seq"]
    assert [e["seq"] for e in replay(psc, after=last)] == [events[-1]["seq"]]


def test_staff_incident_timeline_is_filtered_too(world, psc):
    timeline = results(psc.get(incident_url(world["traffic"].pk, "events")))
    agencies = {e["data"]["assignment"]["agency"] for e in timeline if "assignment" in e["data"]}
    assert agencies == {"PSC119"}


def test_staff_learn_of_an_incident_once_their_agency_is_dispatched(world, dpkp_staff, operator):
    dpkp = api_as(dpkp_staff)
    medical = world["medical"]
    assert dpkp.get(incident_url(medical.pk)).status_code == 404
    post_json(api_as(operator), incident_url(medical.pk, "dispatch"), {"agencies": ["DPKP"]})
    assert dpkp.get(incident_url(medical.pk)).status_code == 200
    # Including what happened before: the incident-wide events of its timeline.
    types = [e["type"] for e in results(dpkp.get(incident_url(medical.pk, "events")))]
    assert types[0] == "incident.created"
    assert "assignment.created" in types


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "incidents/{fire}/"),
        ("get", "incidents/{undispatched}/"),
        ("get", "incidents/{fire}/events/"),
        ("get", "assignments/{dpkp}/"),
        ("get", "assignments/{polres}/"),
        ("post", "assignments/{dpkp}/acknowledge/"),
        ("post", "assignments/{polres}/acknowledge/"),
        ("post", "assignments/{polres}/status/"),
    ],
)
def test_what_staff_may_not_see_is_404(world, psc, method, path):
    url = f"{API}/" + path.format(
        fire=world["fire"].pk,
        undispatched=world["undispatched"].pk,
        dpkp=world["assignments"]["fire"]["DPKP"].pk,
        polres=world["assignments"]["traffic"]["POLRES"].pk,
    )
    response = psc.get(url) if method == "get" else post_json(psc, url, {"status": "en_route"})
    assert response.status_code == 404
    assert not Assignment.objects.exclude(status="pending").exists()


def test_staff_are_forbidden_the_calls(world, psc):
    assert psc.get(f"{API}/calls/").status_code == 403


def test_staff_cannot_create_edit_or_dispatch_incidents(world, psc):
    traffic = world["traffic"]
    assert post_json(psc, f"{API}/incidents/", {"description": "x"}).status_code == 403
    assert patch_json(psc, incident_url(traffic.pk), {"description": "x"}).status_code == 403
    assert patch_json(psc, incident_url(traffic.pk), {"status": "resolved"}).status_code == 403
    assert post_json(psc, incident_url(traffic.pk, "dispatch")).status_code == 403
    assert psc.get(incident_url(traffic.pk, "routing")).status_code == 403
    traffic.refresh_from_db()
    assert (traffic.description, traffic.status) == ("", "dispatched")


def test_staff_may_act_on_their_own_assignment(world, psc):
    mine = world["assignments"]["traffic"]["PSC119"]
    assert acknowledge(psc, mine).status_code == 200
    assert report(psc, mine, "en_route").status_code == 200


@pytest.mark.parametrize("role", COMMAND_CENTRE)
def test_command_centre_cannot_acknowledge_or_report_for_an_agency(world, role, request):
    client = api_as(request.getfixturevalue(role))
    assignment = world["assignments"]["fire"]["DPKP"]
    for response in (acknowledge(client, assignment), report(client, assignment, "en_route")):
        assert response.status_code == 403
        assert "agency" in response.data["detail"]
    assert Assignment.objects.get(pk=assignment.pk).status == "pending"


def test_me_tells_role_and_agency(world, psc, operator):
    assert psc.get(f"{API}/me/").data == {
        "username": "psc_staff",
        "role": "agency_staff",
        "agency": "PSC119",
    }
    assert api_as(operator).get(f"{API}/me/").data == {
        "username": "op",
        "role": "operator",
        "agency": None,
    }
