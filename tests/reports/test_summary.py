"""The reports summary (CONTRACT §11): figures checked against hand-counted ones on a crafted
night in Cilegon — a period across midnight WIB, a whole day, an empty period —, the CSV form,
the fixed query cost, the parameters and who may read it.

The night (WIB, 10 → 11 November 2026). Calls arrive as the voice webhook records them; pick-ups
and hang-ups go through calls.answering and calls.intake at the time they happen, so the
figures rest on the timestamps those set:

    call  arrives   channel    what became of it                          classification
    c1    22:59:59  voice      picked up after 5 s (before the period)    normal
    c2    23:00:00  voice      picked up after 10 s → incident i1         normal
    c3    23:30:00  voice      picked up after 15 s                       prank
    c4    23:45:00  voice      picked up after 18 s → incident i2         normal
    c5    23:50:00  voice      hung up in the queue after 40 s            —
    c6    00:10:00  voice      picked up after 25 s                       ghost
    c7    00:20:00  sms        → incident i3                              info
    c8    00:30:00  voice      claimed after 20 s, hung up at 30 s        —
    cb    00:40:00  voice out  the command centre calls c5 back
    c9    01:00:00  voice      picked up after 3 s (after the period)     —

    incident  opened    category, area                  dispatched  acknowledged
    i0        22:30:00  FIRE, Citangkil kelurahan       23:10:00    DPKP 23:10:50
    i1        23:00:00  FIRE, Citangkil kelurahan       23:00:50    DPKP 23:01:20
    i2        23:45:00  MEDICAL, Pulomerak kecamatan    23:47:18    PSC119 23:48:48, escalated
    i3        00:20:00  —                               —
    i4        00:50:00  TRAFFIC, Citangkil kecamatan    00:51:00    PSC119 00:52:00 (DISHUB and
                                                                    POLRES do not)
    i5        01:00:00  FIRE, Citangkil kelurahan       —
"""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agencies.models import Agency, Area, Category, User
from calls import answering, intake
from calls.models import Call
from dispatch import incidents
from dispatch.models import Assignment
from tests.conftest import api_as, make_user
from tests.dispatch.helpers import API, assert_names

SUMMARY = f"{API}/reports/summary/"
WIB = ZoneInfo("Asia/Jakarta")
CITANGKIL_KELURAHAN = "36.72.08.1007"
CITANGKIL = "36.72.08"
PULOMERAK = "36.72.03"
NIGHT = {"since": "2026-11-10T23:00:00+07:00", "until": "2026-11-11T01:00:00+07:00"}
DAY = {"since": "2026-11-10", "until": "2026-11-11"}
EMPTY = {"since": "2026-11-09T00:00:00+07:00", "until": "2026-11-10T00:00:00+07:00"}


def wib(day, hour, minute, second=0):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=WIB)


def arrives(at, channel=Call.Channel.VOICE, **fields):
    """A call as the webhook records it on arrival."""
    voice = channel == Call.Channel.VOICE
    return Call.objects.create(
        sid=f"CA{Call.objects.count():032d}",
        channel=channel,
        from_number="+6281234567890",
        started_at=at,
        queue_state=Call.QueueState.WAITING if voice else None,
        **fields,
    )


def picked_up(call, at, operator):
    with time_machine.travel(at, tick=False):
        answering.claim(call.pk, operator)
        answering.operator_answered(call.pk)
        answering.end_call(call.pk, operator)


def hangs_up_waiting(call, at):
    with time_machine.travel(at, tick=False):
        intake.mark_abandoned(call)
        call.queue_state = Call.QueueState.ENDED
        call.save()


def hangs_up_connecting(call, claimed_at, hung_up_at, operator):
    with time_machine.travel(claimed_at, tick=False):
        answering.claim(call.pk, operator)
    call.refresh_from_db()
    with time_machine.travel(hung_up_at, tick=False):
        intake.end_in_queue(call)  # what a final status callback does
        call.save()


def classified(call, classification):
    Call.objects.filter(pk=call.pk).update(classification=classification)


def opened(at, category=None, area=None, call=None):
    with time_machine.travel(at, tick=False):
        incident = incidents.create_incident(
            actor=None,
            category=Category.objects.get(code=category) if category else None,
            area=Area.objects.get(code=area) if area else None,
        )
    if call is not None:
        Call.objects.filter(pk=call.pk).update(incident=incident)
    return incident


def dispatched(incident, at):
    with time_machine.travel(at, tick=False):
        return {a.agency.code: a for a in incidents.dispatch(incident.pk, actor=None)}


def acknowledged(assignment, at):
    with time_machine.travel(at, tick=False):
        incidents.acknowledge(assignment.pk, actor=None)


@pytest.fixture
def night(cilegon):
    operator = make_user("night_operator", User.Role.OPERATOR)
    c1 = arrives(wib(10, 22, 59, 59))
    picked_up(c1, wib(10, 23, 0, 4), operator)
    classified(c1, "normal")
    c2 = arrives(wib(10, 23, 0))
    picked_up(c2, wib(10, 23, 0, 10), operator)
    classified(c2, "normal")
    c3 = arrives(wib(10, 23, 30))
    picked_up(c3, wib(10, 23, 30, 15), operator)
    classified(c3, "prank")
    c4 = arrives(wib(10, 23, 45))
    picked_up(c4, wib(10, 23, 45, 18), operator)
    classified(c4, "normal")
    c5 = arrives(wib(10, 23, 50))
    hangs_up_waiting(c5, wib(10, 23, 50, 40))
    c6 = arrives(wib(11, 0, 10))
    picked_up(c6, wib(11, 0, 10, 25), operator)
    classified(c6, "ghost")
    c7 = arrives(wib(11, 0, 20), channel=Call.Channel.SMS)
    classified(c7, "info")
    c8 = arrives(wib(11, 0, 30))
    hangs_up_connecting(c8, wib(11, 0, 30, 20), wib(11, 0, 30, 30), operator)
    arrives(wib(11, 0, 40), direction=Call.Direction.OUTBOUND, callback_of=c5)
    c9 = arrives(wib(11, 1, 0))
    picked_up(c9, wib(11, 1, 0, 3), operator)

    i0 = opened(wib(10, 22, 30), "FIRE", CITANGKIL_KELURAHAN)
    acknowledged(dispatched(i0, wib(10, 23, 10))["DPKP"], wib(10, 23, 10, 50))
    i1 = opened(wib(10, 23, 0), "FIRE", CITANGKIL_KELURAHAN, call=c2)
    acknowledged(dispatched(i1, wib(10, 23, 0, 50))["DPKP"], wib(10, 23, 1, 20))
    i2 = opened(wib(10, 23, 45), "MEDICAL", PULOMERAK, call=c4)
    psc119 = dispatched(i2, wib(10, 23, 47, 18))["PSC119"]
    Assignment.objects.filter(pk=psc119.pk).update(escalation_level=1)
    acknowledged(psc119, wib(10, 23, 48, 48))
    opened(wib(11, 0, 20), call=c7)
    i4 = opened(wib(11, 0, 50), "TRAFFIC", CITANGKIL)
    acknowledged(dispatched(i4, wib(11, 0, 51))["PSC119"], wib(11, 0, 52))
    opened(wib(11, 1, 0), "FIRE", CITANGKIL_KELURAHAN)


@pytest.fixture
def supervisor_api(supervisor):
    return api_as(supervisor)


def report(client, period, **extra):
    response = client.get(SUMMARY, {**period, **extra})
    assert response.status_code == 200, response.content
    return response


def agency_rows(body):
    return {row["code"]: row for row in body["agencies"]}


def zeros(codes):
    return dict.fromkeys(codes, 0)


CATEGORY_CODES = [
    "CRIME",
    "DISASTER",
    "FIRE",
    "INDUSTRIAL",
    "INFRA",
    "MEDICAL",
    "OTHER",
    "PUBLIC_ORDER",
    "RESCUE",
    "SOCIAL",
    "TRAFFIC",
    "TREE",
    "VIOLENCE",
]
KECAMATAN_CODES = [f"36.72.0{n}" for n in range(1, 9)]
CLASSIFICATIONS = ["normal", "ghost", "prank", "info", "unclassified"]


def test_a_period_across_midnight_counts_only_what_is_inside(night, supervisor_api):
    body = report(supervisor_api, NIGHT).json()

    assert body["period"] == {**NIGHT, "time_zone": "Asia/Jakarta"}
    assert body["calls"] == {
        "total": 7,  # c2–c8
        "voice": 6,
        "sms": 1,
        "abandoned": 2,  # c5 in the queue, c8 while being connected
        "picked_up": 4,  # c2, c3, c4, c6
        "picked_up_within_15s": 2,  # c2, c3 (15 s is within)
        "by_classification": {"normal": 2, "ghost": 1, "prank": 1, "info": 1, "unclassified": 2},
        "picked_up_within_20s": 3,
        "share_picked_up_within_15s": 0.3333,
        "share_picked_up_within_20s": 0.5,
        "share_by_classification": {
            "normal": 0.2857,
            "ghost": 0.1429,
            "prank": 0.1429,
            "info": 0.1429,
            "unclassified": 0.2857,
        },
        "callbacks": 1,
    }
    assert body["incidents"] == {
        "total": 4,  # i1–i4
        "by_category": {**zeros(CATEGORY_CODES), "FIRE": 1, "MEDICAL": 1, "TRAFFIC": 1},
        "by_kecamatan": {**zeros(KECAMATAN_CODES), CITANGKIL: 2, PULOMERAK: 1},
        "no_category": 1,
        "no_area": 1,
        "dispatched": 3,
        "answer_to_dispatch": {
            # i1: 40 s from c2's pick-up; i2: 120 s from c4's; i4 had no call.
            "incidents": 2,
            "within_60s": 1,
            "share_within_60s": 0.5,
            "seconds_median": 80.0,
            "seconds_p90": 112.0,
        },
    }
    rows = agency_rows(body)
    # i0 was opened before the period, but its assignment was created inside it.
    assert rows["DPKP"] == {
        "code": "DPKP",
        "assignments": 2,
        "acknowledged": 2,
        "ack_seconds_median": 40.0,  # 50 s and 30 s
        "escalated": 0,
        "ack_seconds_p90": 48.0,
    }
    assert rows["PSC119"] == {
        "code": "PSC119",
        "assignments": 2,
        "acknowledged": 2,
        "ack_seconds_median": 75.0,  # 90 s and 60 s
        "escalated": 1,
        "ack_seconds_p90": 87.0,
    }
    for code in ("DISHUB", "POLRES"):
        assert rows[code] == {
            "code": code,
            "assignments": 1,
            "acknowledged": 0,
            "ack_seconds_median": None,
            "escalated": 0,
            "ack_seconds_p90": None,
        }
    assert set(rows) == set(Agency.objects.values_list("code", flat=True))
    idle = rows.keys() - {"DPKP", "PSC119", "DISHUB", "POLRES"}
    assert {rows[code]["assignments"] for code in idle} == {0}

    hours = {row["hour"]: row for row in body["by_hour"]}
    assert list(hours) == list(range(24))
    assert hours[23] == {
        "hour": 23,
        "calls": 4,
        "voice": 4,
        "picked_up_within_15s": 2,
        "incidents": 2,
    }
    assert hours[0] == {
        "hour": 0,
        "calls": 3,
        "voice": 2,
        "picked_up_within_15s": 0,
        "incidents": 2,
    }
    quiet = {"calls": 0, "voice": 0, "picked_up_within_15s": 0, "incidents": 0}
    assert all(hours[hour] == {"hour": hour, **quiet} for hour in range(1, 23))


def test_dates_without_a_time_are_whole_days_in_wib(night, supervisor_api):
    body = report(supervisor_api, DAY).json()
    assert body["period"]["since"] == "2026-11-10T00:00:00+07:00"
    assert body["period"]["until"] == "2026-11-11T00:00:00+07:00"
    assert body["calls"]["total"] == 5  # c1–c5
    assert body["calls"]["picked_up_within_15s"] == 3  # c1, c2, c3
    assert body["incidents"]["total"] == 3  # i0–i2
    assert body["incidents"]["answer_to_dispatch"]["incidents"] == 2  # i1, i2


def test_the_same_instant_in_utc_gives_the_same_report(night, supervisor_api):
    in_utc = {"since": "2026-11-10T16:00:00Z", "until": "2026-11-10T18:00:00Z"}
    assert report(supervisor_api, in_utc).json() == report(supervisor_api, NIGHT).json()


def test_an_empty_period_is_zeros_and_no_times(night, supervisor_api):
    body = report(supervisor_api, EMPTY).json()
    calls = body["calls"]
    assert calls["total"] == calls["voice"] == calls["picked_up"] == calls["callbacks"] == 0
    assert calls["by_classification"] == zeros(CLASSIFICATIONS)
    assert calls["share_picked_up_within_15s"] is None
    assert calls["share_by_classification"] == dict.fromkeys(CLASSIFICATIONS)
    assert body["incidents"] == {
        "total": 0,
        "by_category": zeros(CATEGORY_CODES),
        "by_kecamatan": zeros(KECAMATAN_CODES),
        "no_category": 0,
        "no_area": 0,
        "dispatched": 0,
        "answer_to_dispatch": {
            "incidents": 0,
            "within_60s": 0,
            "share_within_60s": None,
            "seconds_median": None,
            "seconds_p90": None,
        },
    }
    assert {row["assignments"] for row in body["agencies"]} == {0}
    assert {row["ack_seconds_median"] for row in body["agencies"]} == {None}
    assert {row["calls"] + row["incidents"] for row in body["by_hour"]} == {0}


def test_an_inactive_agency_is_listed_only_when_it_had_work(night, supervisor_api):
    Agency.objects.filter(code__in=["POLRES", "RSUD"]).update(is_active=False)
    rows = agency_rows(report(supervisor_api, NIGHT).json())
    assert "POLRES" in rows
    assert "RSUD" not in rows


# --- CSV ---------------------------------------------------------------------------------------


def from_long_format(text):
    """The CSV read back into the JSON's shape, every value as the text it was written as."""
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "group", "key", "value"]
    rebuilt = {}
    for section, group, key, value in rows[1:]:
        target = rebuilt.setdefault(section, {})
        if group:
            target = target.setdefault(group, {})
        target[key] = value
    return rebuilt


def as_text(value):
    return "" if value is None else str(value)


def in_long_format_shape(body):
    """The JSON with its lists keyed by item name, and every value as text."""
    names = {"agencies": "code", "by_hour": "hour"}
    shaped = {}
    for section, content in body.items():
        if isinstance(content, list):
            name = names[section]
            content = {
                str(item[name]): {k: v for k, v in item.items() if k != name} for item in content
            }
        shaped[section] = {
            key: {k: as_text(v) for k, v in value.items()}
            if isinstance(value, dict)
            else as_text(value)
            for key, value in content.items()
        }
    return shaped


@pytest.mark.parametrize("period", [NIGHT, EMPTY])
def test_the_csv_parses_and_holds_the_json_figures(night, supervisor_api, period):
    as_json = report(supervisor_api, period).json()
    as_csv = report(supervisor_api, period, format="csv")
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert from_long_format(as_csv.content.decode()) == in_long_format_shape(as_json)


def test_the_csv_rows_read_as_documented(night, supervisor_api):
    text = report(supervisor_api, NIGHT, format="csv").content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert ["calls", "", "picked_up_within_15s", "2"] in rows
    assert ["calls", "by_classification", "prank", "1"] in rows
    assert ["incidents", "by_kecamatan", CITANGKIL, "2"] in rows
    assert ["agencies", "DPKP", "ack_seconds_median", "40.0"] in rows
    assert ["agencies", "DISHUB", "ack_seconds_median", ""] in rows
    assert ["by_hour", "23", "calls", "4"] in rows


# --- cost ---------------------------------------------------------------------------------------


def test_the_report_costs_a_fixed_number_of_queries(
    cilegon, supervisor_api, django_assert_max_num_queries, request
):
    with CaptureQueriesContext(connection) as empty:
        report(supervisor_api, NIGHT)
    request.getfixturevalue("night")
    with django_assert_max_num_queries(len(empty.captured_queries)):
        report(supervisor_api, NIGHT, format="csv")


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ({"until": NIGHT["until"]}, "since"),
        ({"since": NIGHT["since"]}, "until"),
        ({"since": "yesterday", "until": NIGHT["until"]}, "since"),
        ({"since": NIGHT["since"], "until": "2026-13-01"}, "until"),
        ({"since": "0001-01-01T00:00", "until": NIGHT["until"]}, "since"),
        ({"since": "0001-01-01T00:00+07:00", "until": NIGHT["until"]}, "since"),
        ({"since": NIGHT["since"], "until": "9999-12-31T23:59:59-07:00"}, "until"),
        ({"since": NIGHT["until"], "until": NIGHT["since"]}, "until"),
        ({"since": NIGHT["since"], "until": NIGHT["since"]}, "until"),
    ],
)
def test_a_missing_or_wrong_period_is_400_naming_the_field(cilegon, supervisor_api, query, field):
    assert_names(supervisor_api.get(SUMMARY, query), field)


def test_an_offset_whose_plus_was_not_encoded_is_400_naming_the_field(cilegon, supervisor_api):
    # A raw `+` in a query string is a space; the message says how to write it.
    response = supervisor_api.get(
        f"{SUMMARY}?since=2026-11-10T23:00+07:00&until=2026-11-11T01:00%2B07:00"
    )
    assert_names(response, "since")


def test_an_error_is_json_even_when_csv_was_asked_for(cilegon, supervisor_api):
    response = supervisor_api.get(SUMMARY, {"since": "nope", "format": "csv"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"since", "until"}


# --- who may read it ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, status",
    [
        (User.Role.ADMIN, 200),
        (User.Role.SUPERVISOR, 200),
        (User.Role.OPERATOR, 403),
        (User.Role.AGENCY_STAFF, 403),
    ],
)
@pytest.mark.parametrize("format", ["json", "csv"])
def test_supervisors_and_admins_may_read_the_report(cilegon, role, status, format):
    user = make_user("someone", role, "DPKP" if role == User.Role.AGENCY_STAFF else None)
    response = api_as(user).get(SUMMARY, {**NIGHT, "format": format})
    assert response.status_code == status


def test_anonymous_is_refused(cilegon):
    assert api_as(None).get(SUMMARY, NIGHT).status_code == 401
