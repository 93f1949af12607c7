"""Issue 11, history: the incident list's search filters at their edges, the close reason
(values, 400s, merge, classification) and reopening."""

import pytest
import time_machine
from django.db import connection

from agencies.models import Area
from calls import linking
from calls.intake import classify, receive_call
from dispatch.models import Incident
from tests.conftest import api_as, requires_postgres
from tests.dispatch.helpers import (
    API,
    KECAMATAN,
    KELURAHAN,
    assert_names,
    dispatched_incident,
    incident_url,
    new_incident,
    patch_json,
    results,
)

INCIDENTS = f"{API}/incidents/"
CALLER = "+6281234567890"


@pytest.fixture
def ops(operator):
    return api_as(operator)


def found(client, query):
    return sorted(row["id"] for row in results(client.get(f"{INCIDENTS}?{query}")))


def close(client, incident, **extra):
    return patch_json(client, incident_url(incident.pk), {"status": "closed", **extra})


def created_at(moment, **fields):
    with time_machine.travel(moment, tick=False):
        return new_incident(**fields)


# Dates are WIB days: 28 Nov WIB runs from 27 Nov 17:00 UTC to 28 Nov 17:00 UTC.
def test_a_date_range_is_whole_wib_days(ops):
    before = created_at("2026-11-27 16:59 +0000")  # 27 Nov 23:59 WIB
    first = created_at("2026-11-27 17:00 +0000")  # 28 Nov 00:00 WIB
    last = created_at("2026-11-28 16:59 +0000")  # 28 Nov 23:59 WIB
    after = created_at("2026-11-28 17:00 +0000")  # 29 Nov 00:00 WIB
    day = "created_after=2026-11-28&created_before=2026-11-28"
    assert found(ops, day) == [first.pk, last.pk]
    assert found(ops, "created_before=2026-11-27") == [before.pk]
    assert found(ops, "created_after=2026-11-29") == [after.pk]


def test_a_datetime_bound_is_wib_unless_it_names_its_offset(ops):
    early = created_at("2026-11-28 01:00 +0000")  # 08:00 WIB
    late = created_at("2026-11-28 03:00 +0000")  # 10:00 WIB
    assert found(ops, "created_after=2026-11-28T09:00") == [late.pk]
    assert found(ops, "created_before=2026-11-28T09:00") == [early.pk]
    assert found(ops, "created_after=2026-11-28T02:00%2B00:00") == [late.pk]
    assert found(ops, "created_before=2026-11-28T10:00") == [early.pk]  # exclusive


@pytest.mark.parametrize(
    "typed", ["081234567890", "+6281234567890", "6281234567890", "0812-3456-7890"]
)
def test_q_finds_the_caller_in_any_number_format(ops, typed):
    mine = new_incident(caller_phone=CALLER)
    new_incident(caller_phone="+6281299998888")
    assert found(ops, f"q={typed.replace('+', '%2B')}") == [mine.pk]


def test_q_finds_a_number_among_the_incidents_calls(ops):
    call, _created = receive_call({"CallSid": "CAhist1", "From": "081234567890"})
    Incident.objects.filter(pk=call.incident_id).update(caller_phone="")
    assert found(ops, "q=081234567890") == [call.incident_id]


def test_q_finds_a_reference_and_text(ops):
    fire = new_incident(description="Gudang terbakar", address="Jl. Pabrik 7")
    other = new_incident(description="Banjir")
    assert found(ops, f"q={fire.reference.lower()}") == [fire.pk]
    assert found(ops, "q=GUDANG") == [fire.pk]
    assert found(ops, "q=pabrik") == [fire.pk]
    assert found(ops, "q=banjir") == [other.pk]


def test_kecamatan_matches_its_kelurahan_and_itself(ops):
    in_kelurahan = new_incident(area=KELURAHAN)
    in_kecamatan = new_incident(area=KECAMATAN)
    elsewhere = Area.objects.filter(kind="kecamatan").exclude(code=KECAMATAN).first()
    new_incident(area=elsewhere.code)
    new_incident(area=None)
    assert found(ops, f"kecamatan={KECAMATAN}") == sorted([in_kelurahan.pk, in_kecamatan.pk])


def test_category_and_agency(ops):
    fire, _ = dispatched_incident("FIRE", agencies=["DPKP"])
    medical, _ = dispatched_incident("MEDICAL", agencies=["PSC119"])
    assert found(ops, "category=FIRE") == [fire.pk]
    assert found(ops, "agency=PSC119") == [medical.pk]
    assert found(ops, "agency=PSC119&category=FIRE") == []


def test_status_takes_repeated_values_and_ended_takes_the_three_final_ones(ops):
    ended = {}
    for status in ("resolved", "closed", "cancelled"):
        ended[status] = new_incident()
        Incident.objects.filter(pk=ended[status].pk).update(status=status)
    new_incident()
    assert found(ops, "status=closed&status=resolved") == sorted(
        [ended["closed"].pk, ended["resolved"].pk]
    )
    assert found(ops, "ended=true") == sorted(incident.pk for incident in ended.values())


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("category=NOPE", "category"),
        ("kecamatan=36.72.08.1007", "kecamatan"),  # a kelurahan is no kecamatan
        ("agency=NOPE", "agency"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-02-30", "created_before"),
        ("created_after=0001-01-01", "created_after"),
        ("status=closed&status=lost", "status"),
        ("q=%00", "q"),
    ],
)
def test_bad_search_values_are_400_naming_them(ops, query, parameter):
    assert_names(ops.get(f"{INCIDENTS}?{query}"), parameter)


def test_agency_staff_search_only_their_incidents(ops, psc_staff):
    fire, _ = dispatched_incident("FIRE", agencies=["DPKP"])
    medical, _ = dispatched_incident("MEDICAL", agencies=["PSC119"])
    staff = api_as(psc_staff)
    assert found(staff, "q=CLG") == [medical.pk]
    assert found(staff, "agency=DPKP") == []
    assert found(ops, "q=CLG") == sorted([fire.pk, medical.pk])


def test_the_search_costs_a_fixed_number_of_queries(ops, django_assert_max_num_queries):
    for _ in range(5):
        dispatched_incident("FIRE", agencies=["DPKP", "PSC119"])
    query = (
        f"ended=1&status=closed&q={CALLER.replace('+', '%2B')}&category=FIRE"
        f"&kecamatan={KECAMATAN}&agency=DPKP&created_after=2000-01-01&created_before=2999-01-01"
    )
    with django_assert_max_num_queries(8):
        assert ops.get(f"{INCIDENTS}?{query}").status_code == 200
    with django_assert_max_num_queries(8):
        assert len(results(ops.get(f"{INCIDENTS}?category=FIRE&kecamatan={KECAMATAN}"))) == 5


# The close reason.


@pytest.mark.parametrize("reason", [value for value, _label in Incident.CloseReason.choices])
def test_closing_records_the_reason_in_the_incident_and_its_event(ops, reason):
    incident = new_incident()
    response = close(ops, incident, close_reason=reason)
    assert response.status_code == 200, response.data
    assert response.data["close_reason"] == reason
    event = incident.events.get(type="incident.closed")
    assert event.data["incident"]["close_reason"] == reason


def test_closing_without_a_reason_leaves_it_blank(ops):
    response = close(ops, new_incident())
    assert response.status_code == 200, response.data
    assert response.data["close_reason"] == ""


def test_an_unknown_reason_is_400(ops):
    incident = new_incident()
    assert_names(close(ops, incident, close_reason="bored"), "close_reason")
    incident.refresh_from_db()
    assert incident.status == "new"


@pytest.mark.parametrize("status", [None, "resolved", "cancelled", "new"])
def test_a_reason_without_closing_is_400(ops, status):
    incident = new_incident()
    body = (
        {"close_reason": "prank"} if status is None else {"status": status, "close_reason": "prank"}
    )
    assert_names(patch_json(ops, incident_url(incident.pk), body), "close_reason")


def test_reopening_clears_the_reason_and_is_on_the_timeline(ops):
    incident = new_incident()
    close(ops, incident, close_reason="false_alarm")
    response = patch_json(ops, incident_url(incident.pk), {"status": "new"})
    assert response.status_code == 200, response.data
    assert response.data["status"] == "new"
    assert response.data["close_reason"] == ""
    timeline = results(ops.get(incident_url(incident.pk, "events")))
    assert [row["type"] for row in timeline][-2:] == ["incident.closed", "incident.new"]
    assert timeline[-2]["data"]["incident"]["close_reason"] == "false_alarm"  # history kept


def test_a_merge_closes_the_duplicate_as_a_duplicate(operator):
    first = new_incident()
    duplicate = new_incident()
    linking.merge(duplicate.pk, first.pk, actor=operator)
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.close_reason) == ("closed", "duplicate")
    merged = duplicate.events.get(type="incident.merged")
    assert merged.data["incident"]["close_reason"] == "duplicate"


@pytest.mark.parametrize(
    "classification, reason", [("ghost", "no_answer"), ("prank", "prank"), ("info", "handled")]
)
def test_a_classification_that_closes_gives_its_reason(operator, classification, reason):
    call, _created = receive_call({"CallSid": f"CAcls{classification}", "From": CALLER})
    classify(call.pk, classification, actor=operator)
    assert Incident.objects.get(pk=call.incident_id).close_reason == reason
    classify(call.pk, "normal", actor=operator)
    assert Incident.objects.get(pk=call.incident_id).close_reason == ""


@requires_postgres
def test_every_way_the_search_matches_has_its_index(db):
    """A year of incidents is searched by index look-ups only (bench/year.py): the trigram
    indexes on what `icontains` compares, and the caller's number."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'dispatch_incident'")
        names = {row[0] for row in cursor.fetchall()}
    trigram = {f"incident_{column}_trgm" for column in ("reference", "description", "address")}
    assert trigram | {"incident_caller_phone"} <= names
