"""Incidents through the API: create, edit, bad input (always a 400 naming the field, never a
500), manual status changes, and call classification closing or reopening an incident."""

import re

import pytest
import time_machine

from calls.intake import receive_call
from calls.models import Call
from dispatch.models import Assignment, Incident
from tests.conftest import api_as
from tests.dispatch.helpers import (
    API,
    KELURAHAN,
    assert_names,
    dispatched_incident,
    incident_url,
    new_incident,
    patch_json,
    post_json,
)

INCIDENTS = f"{API}/incidents/"


@pytest.fixture
def ops(operator):
    return api_as(operator)


def create(client, **fields):
    return post_json(client, INCIDENTS, fields)


def set_status(client, incident, status):
    return patch_json(client, incident_url(incident.pk), {"status": status})


# 17:30 UTC is already the next day in Cilegon (WIB, UTC+7): references count WIB days.
@time_machine.travel("2026-11-28 17:30 +0000", tick=False)
def test_create_answers_201_with_a_daily_reference(ops):
    response = create(ops, category="FIRE", area=KELURAHAN, description="Gudang terbakar")
    assert response.status_code == 201, response.data
    assert response.data["reference"] == "CLG-20261129-0001"
    assert response.data["status"] == "new"
    assert response.data["category"] == "FIRE"
    assert response.data["area"] == KELURAHAN
    assert response.data["priority"] == 1  # the category's default
    assert response.data["assignments"] == []
    incident = Incident.objects.get(pk=response.data["id"])
    assert incident.events.get().type == "incident.created"


def test_create_ignores_read_only_fields(ops):
    response = create(
        ops, description="x", reference="HACK-1", unroutable=True, assignments=[{"agency": "DPKP"}]
    )
    assert response.status_code == 201, response.data
    assert re.fullmatch(r"CLG-\d{8}-\d{4}", response.data["reference"])
    assert response.data["unroutable"] is False
    assert not Assignment.objects.exists()


def test_references_are_numbered_in_sequence(ops):
    first = create(ops, description="satu").data["reference"]
    second = create(ops, description="dua").data["reference"]
    assert first[:-4] == second[:-4]
    assert int(second[-4:]) == int(first[-4:]) + 1


def test_create_with_nothing_but_a_description(ops):
    response = create(ops, description="Ada asap")
    assert response.status_code == 201, response.data
    assert response.data["category"] is None
    assert response.data["priority"] is None


def test_explicit_priority_beats_the_category_default(ops):
    response = create(ops, category="FIRE", priority=3)
    assert response.data["priority"] == 3


def test_create_may_not_start_in_another_status(ops):
    response = create(ops, description="x", status="resolved")
    assert_names(response, "status")


def test_caller_phone_is_stored_in_e164(ops):
    response = create(ops, caller_phone="0812-3456-7890")
    assert response.status_code == 201, response.data
    assert response.data["caller_phone"] == "+6281234567890"
    assert Incident.objects.get().caller_phone == "+6281234567890"


def test_patch_changes_the_given_fields_and_records_them(ops):
    incident = new_incident("FIRE")
    response = patch_json(
        ops,
        incident_url(incident.pk),
        {
            "description": "Api menjalar ke rumah sebelah",
            "address": "Jl. Sunan Ampel 12",
            "latitude": "-6.0123",
            "longitude": 106.0456,
            "caller_name": "Budi",
            "priority": 2,
            "category": "RESCUE",
        },
    )
    assert response.status_code == 200, response.data
    assert response.data["description"] == "Api menjalar ke rumah sebelah"
    assert response.data["category"] == "RESCUE"
    assert response.data["priority"] == 2
    assert response.data["latitude"] == "-6.012300"
    assert response.data["area"] == KELURAHAN  # untouched
    event = incident.events.get(type="incident.updated")
    assert event.data["changed"] == [
        "address",
        "caller_name",
        "category",
        "description",
        "latitude",
        "longitude",
        "priority",
    ]


def test_patch_without_changes_records_no_event(ops):
    incident = new_incident("FIRE", description="x")
    assert patch_json(ops, incident_url(incident.pk), {"description": "x"}).status_code == 200
    assert not incident.events.filter(type="incident.updated").exists()


def test_patch_can_clear_category_and_area(ops):
    incident = new_incident("FIRE")
    response = patch_json(ops, incident_url(incident.pk), {"category": None, "area": None})
    assert response.status_code == 200, response.data
    assert response.data["category"] is None
    assert response.data["area"] is None


def test_unknown_incident_is_404(ops):
    assert ops.get(incident_url(999999)).status_code == 404
    assert patch_json(ops, incident_url(999999), {"description": "x"}).status_code == 404


BAD_FIELDS = [
    ("priority", 0),
    ("priority", 5),
    ("priority", "x"),
    ("priority", 10**30),
    ("priority", 1.5),
    ("latitude", 91),
    ("latitude", "NaN"),
    ("latitude", "Infinity"),
    ("latitude", "north"),
    ("latitude", "1.1234567"),
    ("longitude", -181),
    ("category", "NOPE"),
    ("category", 1),
    ("category", ["FIRE"]),
    ("category", "FIRE\x00"),  # PostgreSQL cannot even look up a NUL
    ("area", "99.99"),
    ("area", {"code": KELURAHAN}),
    ("area", "36.72\x00"),
    ("caller_phone", "abc"),
    ("caller_phone", "12"),
    ("caller_phone", "+" + "9" * 40),
    ("description", ["a", "list"]),
    ("description", {"a": 1}),
    ("description", "x" * 5001),
    ("description", "nul\x00byte"),
    ("address", "a" * 301),
    ("caller_name", "nul\x00byte"),
    ("status", "bogus"),
    ("status", ["new"]),
]


@pytest.mark.parametrize("field, value", BAD_FIELDS)
def test_bad_field_on_create_is_400_naming_it(ops, field, value):
    response = create(ops, **{field: value})
    assert_names(response, field)
    assert not Incident.objects.exists()


@pytest.mark.parametrize("field, value", BAD_FIELDS)
def test_bad_field_on_patch_is_400_naming_it(ops, field, value):
    incident = new_incident("FIRE", description="before")
    response = patch_json(ops, incident_url(incident.pk), {field: value})
    assert_names(response, field)
    incident.refresh_from_db()
    assert incident.description == "before"


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("null", "application/json"),
        ("\xff\xfe", "application/json"),
        ("<incident/>", "application/xml"),
    ],
)
def test_malformed_body_is_a_4xx_not_a_500(ops, body, content_type):
    response = ops.post(INCIDENTS, body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert isinstance(response.data, dict)
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "url, parameter",
    [
        (f"{INCIDENTS}?status=bogus", "status"),
        (f"{INCIDENTS}?status=new,bogus", "status"),
        (f"{API}/events/?after=abc", "after"),
        (f"{API}/events/?after=-1", "after"),
        (f"{API}/events/?after=%C2%B2", "after"),  # "²" is a digit but not a number
        (f"{API}/assignments/?incident=%C2%B2", "incident"),
        (f"{API}/assignments/?agency=%00", "agency"),
        (f"{API}/areas/?q=%00", "q"),
        (f"{API}/areas/?parent=%00", "parent"),
        (f"{API}/assignments/?status=lost", "status"),
        (f"{API}/assignments/?incident=abc", "incident"),
        (f"{API}/calls/?status=flying", "status"),
        (f"{API}/areas/?kind=provinsi", "kind"),
    ],
)
def test_bad_query_parameter_is_400_naming_it(ops, url, parameter):
    response = ops.get(url)
    assert_names(response, parameter)


@pytest.mark.parametrize(
    "url",
    [
        f"{INCIDENTS}?page=abc",
        f"{INCIDENTS}?page=99",
        f"{INCIDENTS}?page_size=abc",
        f"{API}/events/?after={10**30}",
        f"{API}/assignments/?incident={10**30}",
        f"{API}/notifications/?assignment={10**30}",
        f"{INCIDENTS}{10**30}/",
        f"{API}/agencies/%00/",
        f"{API}/categories/%00/",
        f"{INCIDENTS}abc/",
        f"{API}/assignments/abc/",
    ],
)
def test_odd_urls_never_answer_500(ops, url):
    assert ops.get(url).status_code in (200, 400, 404)


def test_status_filter_takes_several_values(ops):
    fresh = new_incident()
    dispatched, _ = dispatched_incident()
    Incident.objects.filter(pk=new_incident().pk).update(status="closed")
    response = ops.get(f"{INCIDENTS}?status=new,dispatched")
    assert sorted(row["id"] for row in response.data["results"]) == sorted(
        [fresh.pk, dispatched.pk]
    )
    assert ops.get(f"{INCIDENTS}?open=1").data["count"] == 2


def test_list_is_paginated_newest_first(ops):
    made = [new_incident().pk for _ in range(3)]
    response = ops.get(f"{INCIDENTS}?page_size=2")
    assert response.data["count"] == 3
    assert response.data["next"] is not None
    assert response.data["previous"] is None
    assert [row["id"] for row in response.data["results"]] == made[::-1][:2]


# Manual status changes (resolve, cancel, close, reopen).


@pytest.mark.parametrize(
    "start, target",
    [
        ("new", "resolved"),
        ("dispatched", "resolved"),
        ("in_progress", "resolved"),
        ("new", "cancelled"),
        ("in_progress", "cancelled"),
        ("new", "closed"),
        ("resolved", "closed"),
        ("resolved", "new"),
        ("closed", "new"),
        ("cancelled", "new"),
    ],
)
def test_allowed_manual_transition(ops, start, target):
    incident = new_incident()
    Incident.objects.filter(pk=incident.pk).update(status=start)
    response = set_status(ops, incident, target)
    assert response.status_code == 200, response.data
    assert response.data["status"] == target
    assert incident.events.filter(type=f"incident.{target}").count() == 1
    assert (response.data["resolved_at"] is not None) == (target == "resolved")


@pytest.mark.parametrize(
    "start, target",
    [
        ("new", "in_progress"),
        ("new", "dispatched"),
        ("resolved", "cancelled"),
        ("closed", "resolved"),
        ("closed", "cancelled"),
        ("cancelled", "closed"),
        ("cancelled", "resolved"),
        ("dispatched", "new"),
        ("in_progress", "new"),
    ],
)
def test_invalid_manual_transition_is_409(ops, start, target):
    incident = new_incident()
    Incident.objects.filter(pk=incident.pk).update(status=start)
    response = set_status(ops, incident, target)
    assert response.status_code == 409
    assert "detail" in response.data
    incident.refresh_from_db()
    assert incident.status == start


def test_rejected_transition_also_rolls_back_the_edits_sent_with_it(ops):
    incident = new_incident(description="before")
    Incident.objects.filter(pk=incident.pk).update(status="closed")
    response = patch_json(
        ops, incident_url(incident.pk), {"description": "after", "status": "resolved"}
    )
    assert response.status_code == 409
    incident.refresh_from_db()
    assert incident.description == "before"
    assert not incident.events.filter(type="incident.updated").exists()


def test_cancel_withdraws_every_live_assignment(ops, psc_staff):
    incident, assignments = dispatched_incident("TRAFFIC")
    post_json(api_as(psc_staff), f"{API}/assignments/{assignments['PSC119'].pk}/acknowledge/")
    Assignment.objects.filter(pk=assignments["DISHUB"].pk).update(
        status="completed", escalate_at=None
    )

    response = set_status(ops, incident, "cancelled")
    assert response.status_code == 200, response.data
    statuses = {a["agency"]: a["status"] for a in response.data["assignments"]}
    assert statuses == {"POLRES": "cancelled", "PSC119": "cancelled", "DISHUB": "completed"}
    assert not Assignment.objects.filter(escalate_at__isnull=False).exists()


def test_resolve_withdraws_only_pending_assignments(ops, psc_staff):
    incident, assignments = dispatched_incident("TRAFFIC")
    post_json(api_as(psc_staff), f"{API}/assignments/{assignments['PSC119'].pk}/acknowledge/")

    response = set_status(ops, incident, "resolved")
    assert response.status_code == 200, response.data
    statuses = {a["agency"]: a["status"] for a in response.data["assignments"]}
    assert statuses == {"POLRES": "cancelled", "PSC119": "acknowledged", "DISHUB": "cancelled"}


# Call classification closes or reopens the incident the call opened.


@pytest.fixture
def call(cilegon):
    call, _created = receive_call({"CallSid": "CAclassify", "From": "081234567890"})
    return call


def classify(client, call, classification):
    return patch_json(client, f"{API}/calls/{call.pk}/", {"classification": classification})


@pytest.mark.parametrize("verdict", ["prank", "ghost", "info"])
def test_non_normal_classification_closes_an_undispatched_incident(ops, call, verdict):
    response = classify(ops, call, verdict)
    assert response.status_code == 200, response.data
    assert response.data["classification"] == verdict
    assert Incident.objects.get(pk=call.incident_id).status == "closed"


def test_normal_classification_reopens_the_closed_incident(ops, call):
    classify(ops, call, "prank")
    response = classify(ops, call, "normal")
    assert response.status_code == 200, response.data
    assert Incident.objects.get(pk=call.incident_id).status == "new"
    assert Call.objects.get(pk=call.pk).classification == "normal"


def test_classification_leaves_a_dispatched_incident_alone(ops, call):
    post_json(ops, incident_url(call.incident_id, "dispatch"), {"agencies": ["DPKP"]})
    assert classify(ops, call, "prank").status_code == 200
    assert Incident.objects.get(pk=call.incident_id).status == "dispatched"


@pytest.mark.parametrize("verdict", ["bogus", 5, ["prank"]])
def test_unknown_classification_is_400(ops, call, verdict):
    response = classify(ops, call, verdict)
    assert_names(response, "classification")


def test_call_fields_other_than_classification_are_read_only(ops, call):
    response = patch_json(ops, f"{API}/calls/{call.pk}/", {"from_number": "+620000", "sid": "X"})
    assert response.status_code == 200
    call.refresh_from_db()
    assert (call.sid, call.from_number) == ("CAclassify", "+6281234567890")
