"""Answering the caller (CONTRACT §9): the queue's TwiML, the wait URL that never fails, how a
caller leaves the queue, picking up a specific caller (console and Twilio), the bridge and its
`<Dial action>`, release, missed calls and call-backs, caller history and the softphone token.
Incoming Twilio requests are signed with the real RequestValidator; Twilio's REST API is the
recording fake of tests.twilio_fake."""

import threading
from xml.etree import ElementTree

import jwt
import pytest
from django.conf import settings as django_settings
from django.db import close_old_connections
from django.test.utils import CaptureQueriesContext

from agencies.models import User
from calls import answering, intake
from calls.models import Call
from dispatch.incidents import Conflict
from dispatch.models import IncidentEvent
from tests.conftest import api_as, make_user, post_signed, requires_postgres
from tests.twilio_fake import ACCOUNT_SID, FROM_NUMBER, PUBLIC, TWILIO_API

pytestmark = pytest.mark.usefixtures("cilegon")

QUEUE_SID = "QU" + "1" * 32
CALLER = "+6281234567890"
API = "/api/v1/calls"


def voice_params(sid="CAwait1", caller=CALLER, **extra):
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": caller,
        "To": "112",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def twiml(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ElementTree.fromstring(response.content)


def waiting_call(sid="CAwait1", caller=CALLER):
    call, _created = intake.receive_call(voice_params(sid, caller))
    return call


def post_twilio(client, path, params):
    """Signed over the URL Twilio used: PUBLIC_BASE_URL when set (the Twilio tests set it)."""
    return post_signed(
        client, path, params, base=django_settings.PUBLIC_BASE_URL or "http://testserver"
    )


def leave_queue(client, result, sid="CAwait1", queue_time="42"):
    params = voice_params(sid, QueueResult=result, QueueTime=queue_time, QueueSid=QUEUE_SID)
    return post_twilio(client, "/calls/twilio/queue/", params)


@pytest.fixture
def operator1(cilegon):
    return make_user("operator1", User.Role.OPERATOR)


@pytest.fixture
def operator2(cilegon):
    return make_user("operator2", User.Role.OPERATOR)


def queue_list(*queues):
    return {
        "queues": [
            {"sid": sid, "friendly_name": name, "max_size": size, "account_sid": ACCOUNT_SID}
            for sid, name, size in queues
        ],
        "meta": {"key": "queues", "next_page_url": None, "page": 0, "page_size": 50},
        "end": 0,
        "start": 0,
        "page": 0,
        "page_size": 50,
        "next_page_uri": None,
    }


def member(call_sid):
    return {"call_sid": call_sid, "queue_sid": QUEUE_SID, "position": 1, "wait_time": 30}


# --- the queue's TwiML -------------------------------------------------------------------------


def test_the_voice_webhook_enqueues_with_a_wait_url_and_an_action(client):
    root = twiml(post_signed(client, "/calls/twilio/voice/", voice_params()))
    [say] = root.findall("Say")
    assert say.get("language") == "id-ID"
    [enqueue] = root.findall("Enqueue")
    assert enqueue.text == "operators-112"
    assert enqueue.get("waitUrl") == "/calls/twilio/wait/"
    assert enqueue.get("waitUrlMethod") == "POST"
    assert enqueue.get("action") == "/calls/twilio/queue/"
    call = Call.objects.get(sid="CAwait1")
    assert call.queue_state == "waiting"
    assert call.direction == "inbound"


@pytest.mark.django_db(transaction=False)
def test_an_sms_has_no_queue_state(client):
    params = {"MessageSid": "SM1", "AccountSid": ACCOUNT_SID, "From": CALLER, "Body": "tolong"}
    post_signed(client, "/calls/twilio/sms/", params)
    assert Call.objects.get(sid="SM1").queue_state is None


# --- the wait URL: answers from memory ------------------------------------------------------


class TestWaitUrl:
    """No `db` fixture here: pytest-django refuses any database access, so these prove the
    wait URL never touches the database (nor Redis: nothing here publishes)."""

    pytestmark = []  # not the module's `cilegon` (it needs the database)

    def test_it_tells_the_caller_their_place_without_the_database(self, client):
        params = {**voice_params(), "QueuePosition": "3", "QueueTime": "45"}
        root = twiml(post_signed(client, "/calls/twilio/wait/", params))
        text = " ".join(say.text for say in root.iter("Say"))
        assert "antrean nomor 3" in text
        assert "Jangan tutup telepon" in text
        assert root.find("Pause") is not None

    def test_a_first_request_without_a_position_still_reassures(self, client):
        root = twiml(post_signed(client, "/calls/twilio/wait/", voice_params()))
        assert "tetap di saluran" in root.find("Say").text

    def test_anything_failing_inside_still_answers_twiml(self, client, monkeypatch):
        def broken(**kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr("calls.twiml.waiting_message", broken)
        root = twiml(post_signed(client, "/calls/twilio/wait/", voice_params()))
        assert "tetap di saluran" in root.find("Say").text

    def test_an_unsigned_request_is_refused(self, client):
        assert client.post("/calls/twilio/wait/", voice_params()).status_code == 403


# --- leaving the queue -----------------------------------------------------------------------


def test_a_caller_who_hangs_up_in_the_queue_is_missed(client, operator1):
    waiting_call()
    root = twiml(leave_queue(client, "hangup", queue_time="37"))
    assert list(root) == []
    call = Call.objects.get(sid="CAwait1")
    assert (call.queue_state, call.abandoned, call.missed) == ("ended", True, True)
    assert call.wait_seconds == 37
    assert call.queue_result == "hangup"
    [listed] = api_as(operator1).get(f"{API}/?missed=true").json()["results"]
    assert listed["id"] == call.id
    assert listed["missed"] is True


def test_a_queue_result_for_an_unknown_call_still_records_the_caller(client):
    leave_queue(client, "hangup", sid="CAneverseen")
    call = Call.objects.get(sid="CAneverseen")
    assert call.missed and call.incident is not None


@pytest.mark.parametrize("result", ["error", "system-error"])
def test_a_queue_error_dials_the_fallback_and_the_call_is_missed(client, settings, result):
    settings.FALLBACK_PHONE_NUMBER = "+62254000112"
    waiting_call()
    root = twiml(leave_queue(client, result))
    assert root.find("Dial").text == "+62254000112"
    assert Call.objects.get(sid="CAwait1").missed


def test_a_queue_error_without_fallback_queues_again(client):
    waiting_call()
    root = twiml(leave_queue(client, "system-error"))
    assert root.find("Enqueue") is not None
    call = Call.objects.get(sid="CAwait1")
    assert call.missed and call.queue_state == "waiting"


def test_a_full_queue_dials_the_fallback_or_retries(client, settings):
    waiting_call()
    root = twiml(leave_queue(client, "queue-full"))
    assert root.find("Pause") is not None and root.find("Enqueue") is not None
    settings.FALLBACK_PHONE_NUMBER = "+62254000112"
    root = twiml(leave_queue(client, "queue-full"))
    assert root.find("Dial").text == "+62254000112"
    assert not Call.objects.get(sid="CAwait1").missed


def test_a_redirected_caller_who_was_claimed_goes_to_the_bridge(client, operator1):
    call = waiting_call()
    answering.claim(call.pk, operator1)
    root = twiml(leave_queue(client, "redirected"))
    assert root.find("Redirect").text == f"/calls/twilio/bridge/{call.pk}/"
    assert not Call.objects.get(pk=call.pk).missed


def test_a_final_status_while_waiting_makes_the_call_missed(client):
    waiting_call()
    params = voice_params(CallStatus="completed", CallDuration="30")
    post_signed(client, "/calls/twilio/status/", params)
    call = Call.objects.get(sid="CAwait1")
    assert (call.queue_state, call.missed) == ("ended", True)


# --- picking up (console backend: connects at once) -------------------------------------------


def test_pick_up_connects_at_once_with_the_console_backend(operator1):
    call = waiting_call()
    response = api_as(operator1).post(f"{API}/{call.pk}/pick-up/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["queue_state"] == "connected"
    assert body["picked_up_by"] == "operator1"
    assert body["picked_up_at"] is not None
    assert body["wait_seconds"] >= 0
    last = IncidentEvent.objects.filter(type="call.updated").last()
    assert last.data["call"]["picked_up_by"] == "operator1"
    assert last.actor == operator1


def test_a_second_pick_up_is_a_conflict(operator1, operator2):
    call = waiting_call()
    assert api_as(operator1).post(f"{API}/{call.pk}/pick-up/").status_code == 200
    response = api_as(operator2).post(f"{API}/{call.pk}/pick-up/")
    assert response.status_code == 409
    assert "detail" in response.json()
    assert Call.objects.get(pk=call.pk).picked_up_by == operator1


def test_an_sms_or_an_ended_call_cannot_be_picked_up(client, operator1):
    call = waiting_call()
    leave_queue(client, "hangup")
    assert api_as(operator1).post(f"{API}/{call.pk}/pick-up/").status_code == 409


def test_agency_staff_cannot_pick_up(dpkp_staff):
    call = waiting_call()
    assert api_as(dpkp_staff).post(f"{API}/{call.pk}/pick-up/").status_code == 403


def test_picking_up_the_same_number_settles_its_missed_calls(client, operator1):
    waiting_call("CAfirst")
    leave_queue(client, "hangup", sid="CAfirst")
    again = waiting_call("CAagain")
    api_as(operator1).post(f"{API}/{again.pk}/pick-up/")
    first = Call.objects.get(sid="CAfirst")
    assert (first.missed, first.abandoned, first.missed_settlement) == (
        False,
        True,
        "called_again",
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_two_operators_wins_each_pick_up(cilegon):
    """The claim race on PostgreSQL: two operators press at the same moment, many rounds."""
    operators = [make_user(f"racer{n}", User.Role.OPERATOR) for n in range(2)]
    for round_number in range(25):
        call = waiting_call(f"CArace{round_number}")
        start = threading.Barrier(2)
        outcomes = []

        def press(user, call_id=call.pk, barrier=start, results=outcomes):
            try:
                barrier.wait()
                answering.claim(call_id, user)
                results.append(("won", user.pk))
            except Conflict:
                results.append(("lost", user.pk))
            finally:
                close_old_connections()

        threads = [threading.Thread(target=press, args=(user,)) for user in operators]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(kind for kind, _user in outcomes) == ["lost", "won"]
        winner = next(user for kind, user in outcomes if kind == "won")
        assert Call.objects.get(pk=call.pk).picked_up_by_id == winner
        Call.objects.filter(pk=call.pk).update(queue_state="ended")  # free for the next round


# --- picking up with Twilio: the Queue Members API ---------------------------------------------


def test_pick_up_redirects_that_queue_member_to_the_bridge(twilio, operator1):
    call = waiting_call()
    twilio.answer(200, queue_list((QUEUE_SID, "operators-112", 250)))
    twilio.answer(200, member(call.sid))
    response = api_as(operator1).post(f"{API}/{call.pk}/pick-up/")
    assert response.status_code == 200, response.content
    assert response.json()["queue_state"] == "connecting"
    assert twilio.requests == [
        ("GET", f"{TWILIO_API}/Queues.json", {}),
        (
            "POST",
            f"{TWILIO_API}/Queues/{QUEUE_SID}/Members/{call.sid}.json",
            {"Url": f"{PUBLIC}/calls/twilio/bridge/{call.pk}/", "Method": "POST"},
        ),
    ]


def test_the_queue_is_created_with_the_centres_max_size(twilio, operator1, settings):
    settings.OPERATOR_QUEUE_MAX_SIZE = 120
    call = waiting_call()
    twilio.answer(200, queue_list())
    twilio.answer(201, {"sid": QUEUE_SID, "friendly_name": "operators-112", "max_size": 120})
    twilio.answer(200, member(call.sid))
    assert api_as(operator1).post(f"{API}/{call.pk}/pick-up/").status_code == 200
    assert twilio.requests[1] == (
        "POST",
        f"{TWILIO_API}/Queues.json",
        {"FriendlyName": "operators-112", "MaxSize": 120},
    )


def test_a_caller_gone_from_the_queue_is_a_conflict_and_the_claim_is_released(twilio, operator1):
    call = waiting_call()
    twilio.answer(200, queue_list((QUEUE_SID, "operators-112", 250)))
    twilio.answer(404, {"code": 20404, "message": "Not found", "status": 404})
    response = api_as(operator1).post(f"{API}/{call.pk}/pick-up/")
    assert response.status_code == 409
    call.refresh_from_db()
    assert (call.queue_state, call.picked_up_by) == ("waiting", None)


def test_twilio_unreachable_is_a_503_and_the_claim_is_released(twilio, operator1):
    call = waiting_call()
    twilio.answer(200, queue_list((QUEUE_SID, "operators-112", 250)))
    twilio.answer(503, {"code": 20503, "message": "Unavailable", "status": 503})
    response = api_as(operator1).post(f"{API}/{call.pk}/pick-up/")
    assert response.status_code == 503
    assert Call.objects.get(pk=call.pk).queue_state == "waiting"


# --- the bridge --------------------------------------------------------------------------------


def claimed_call(operator):
    call = waiting_call()
    return answering.claim(call.pk, operator)


def test_the_bridge_rings_the_operators_softphone(client, operator1):
    call = claimed_call(operator1)
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/", voice_params()))
    dial = root.find("Dial")
    assert dial.get("timeout") == "20"
    assert dial.get("action") == f"/calls/twilio/bridge/{call.pk}/done/"
    client_noun = dial.find("Client")
    assert client_noun.find("Identity").text == f"operator_{operator1.pk}"
    assert client_noun.get("url") == f"/calls/twilio/bridge/{call.pk}/answered/"


@pytest.mark.parametrize(
    ("device", "noun"), [("+6281298765432", "Number"), ("sip:op1@pbx.example.go.id", "Sip")]
)
def test_the_bridge_rings_the_operators_own_phone_when_set(client, operator1, device, noun):
    operator1.answer_device = device
    operator1.save()
    call = claimed_call(operator1)
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/", voice_params()))
    assert root.find(f"Dial/{noun}").text == device


def test_a_bridge_for_a_call_nobody_holds_queues_the_caller_again(client):
    call = waiting_call()
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/", voice_params()))
    assert root.find("Enqueue") is not None


def test_the_operator_answering_connects_the_call(client, operator1):
    call = claimed_call(operator1)
    params = voice_params(CallSid="CAoperatorleg")
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/answered/", params))
    assert list(root) == []
    call.refresh_from_db()
    assert (call.queue_state, call.operator_leg_sid) == ("connected", "CAoperatorleg")


@pytest.mark.parametrize("dial_status", ["no-answer", "busy", "failed", "canceled"])
def test_no_answer_puts_the_caller_back_with_their_wait_kept(client, operator1, dial_status):
    call = claimed_call(operator1)
    arrived = call.started_at
    params = voice_params(DialCallStatus=dial_status)
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/done/", params))
    assert root.find("Enqueue").get("waitUrl") == "/calls/twilio/wait/"
    call.refresh_from_db()
    assert (call.queue_state, call.picked_up_by, call.started_at) == ("waiting", None, arrived)


def test_a_finished_conversation_ends_the_call(client, operator1):
    call = claimed_call(operator1)
    answering.operator_answered(call.pk)
    params = voice_params(DialCallStatus="completed")
    root = twiml(post_signed(client, f"/calls/twilio/bridge/{call.pk}/done/", params))
    assert root.find("Hangup") is not None
    call.refresh_from_db()
    assert call.queue_state == "ended" and not call.missed
    post_signed(client, "/calls/twilio/status/", voice_params(CallStatus="completed"))
    assert not Call.objects.get(pk=call.pk).missed


# --- release -----------------------------------------------------------------------------------


def test_release_puts_the_caller_back_first_in_line(operator1, operator2):
    older = waiting_call("CAolder", caller="+6281200000001")
    waiting_call("CAyounger", caller="+6281200000002")
    api_as(operator1).post(f"{API}/{older.pk}/pick-up/")
    assert api_as(operator2).post(f"{API}/{older.pk}/release/").status_code == 409
    response = api_as(operator1).post(f"{API}/{older.pk}/release/")
    assert response.status_code == 200
    assert response.json()["queue_state"] == "waiting"
    waiting = api_as(operator2).get(f"{API}/?queue_state=waiting").json()["results"]
    assert [call["sid"] for call in sorted(waiting, key=lambda c: c["started_at"])] == [
        "CAolder",
        "CAyounger",
    ]


def test_release_with_twilio_ends_the_operators_leg(twilio, operator1, client):
    call = claimed_call(operator1)
    answering.operator_answered(call.pk, leg_sid="CAoperatorleg")
    twilio.answer(200, {"sid": "CAoperatorleg", "status": "completed"})
    assert api_as(operator1).post(f"{API}/{call.pk}/release/").status_code == 200
    assert twilio.requests == [
        ("POST", f"{TWILIO_API}/Calls/CAoperatorleg.json", {"Status": "completed"})
    ]
    # The bridge then ends, and its action queues the caller again.
    params = voice_params(DialCallStatus="completed")
    root = twiml(post_twilio(client, f"/calls/twilio/bridge/{call.pk}/done/", params))
    assert root.find("Enqueue") is not None


# --- missed calls: call-back and resolve ------------------------------------------------------


def missed_call(client, sid="CAmissed"):
    waiting_call(sid)
    leave_queue(client, "hangup", sid=sid)
    return Call.objects.get(sid=sid)


def test_a_callback_connects_at_once_with_the_console_backend(client, operator1):
    missed = missed_call(client)
    response = api_as(operator1).post(f"{API}/{missed.pk}/callback/")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["direction"] == "outbound"
    assert body["callback_of"] == missed.pk
    assert body["picked_up_by"] == "operator1"
    assert body["queue_state"] == "connected"
    assert body["to_number"] == CALLER
    assert body["incident"] == missed.incident_id
    missed.refresh_from_db()
    assert (missed.missed, missed.missed_settlement) == (False, "callback")
    assert api_as(operator1).get(f"{API}/?missed=true").json()["count"] == 0


def test_only_a_missed_call_can_be_called_back(operator1):
    call = waiting_call()
    assert api_as(operator1).post(f"{API}/{call.pk}/callback/").status_code == 409


def test_a_callback_with_twilio_rings_the_operator_first(twilio, client, operator1):
    missed = missed_call(client)
    twilio.answer(201, {"sid": "CAcallback1", "status": "queued"})
    response = api_as(operator1).post(f"{API}/{missed.pk}/callback/")
    assert response.status_code == 201, response.content
    callback = Call.objects.get(sid="CAcallback1")
    assert callback.queue_state == "connecting"
    assert twilio.requests == [
        (
            "POST",
            f"{TWILIO_API}/Calls.json",
            {
                "To": f"client:operator_{operator1.pk}",
                "From": FROM_NUMBER,
                "Url": f"{PUBLIC}/calls/twilio/callback/{callback.pk}/",
                "Method": "POST",
                "StatusCallback": f"{PUBLIC}/calls/twilio/status/",
                "StatusCallbackMethod": "POST",
            },
        )
    ]
    # The operator answered: Twilio fetches the TwiML that rings the citizen.
    root = twiml(post_twilio(client, f"/calls/twilio/callback/{callback.pk}/", voice_params()))
    number = root.find("Dial/Number")
    assert number.text == CALLER
    assert number.get("url") == f"/calls/twilio/callback/{callback.pk}/answered/"
    assert Call.objects.get(pk=missed.pk).missed  # not settled until the citizen answers
    post_twilio(client, f"/calls/twilio/callback/{callback.pk}/answered/", voice_params())
    assert Call.objects.get(pk=missed.pk).missed_settlement == "callback"


def test_resolving_a_missed_call_needs_a_reason(client, operator1):
    missed = missed_call(client)
    operator = api_as(operator1)
    response = operator.post(f"{API}/{missed.pk}/resolve-missed/", {}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    url = f"{API}/{missed.pk}/resolve-missed/"
    response = operator.post(url, {"reason": "Nomor tidak aktif"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["missed"], body["missed_settlement"], body["missed_reason"]) == (
        False,
        "resolved",
        "Nomor tidak aktif",
    )
    assert operator.post(url, {"reason": "again"}, format="json").status_code == 409


def test_missed_calls_are_listed_newest_first_and_by_number(client, operator1):
    missed_call(client, "CAm1")
    missed_call(client, "CAm2")
    results = api_as(operator1).get(f"{API}/?missed=true").json()["results"]
    assert [call["sid"] for call in results] == ["CAm2", "CAm1"]
    by_number = api_as(operator1).get(f"{API}/?from_number=081234567890").json()
    assert by_number["count"] == 2
    assert api_as(operator1).get(f"{API}/?missed=maybe").status_code == 400


# --- the caller in front of the operator --------------------------------------------------------


def test_caller_history_counts_the_numbers_other_calls_and_pranks(operator1):
    for n in range(3):
        call = waiting_call(f"CAold{n}")
        if n < 2:
            intake.classify(call.pk, "prank", actor=None)
    waiting_call("CAother", caller="+6281299999999")
    current = waiting_call("CAnow")
    body = api_as(operator1).get(f"{API}/{current.pk}/").json()
    assert body["caller_history"]["calls"] == 3
    assert body["caller_history"]["pranks"] == 2
    assert body["caller_history"]["last_call_at"] is not None
    listed = {c["sid"]: c for c in api_as(operator1).get(f"{API}/").json()["results"]}
    assert listed["CAnow"]["caller_history"] == body["caller_history"]
    assert listed["CAother"]["caller_history"]["calls"] == 0
    event = IncidentEvent.objects.filter(type="call.created").last()
    assert event.data["call"]["caller_history"]["calls"] == 3


def test_the_call_list_costs_a_fixed_number_of_queries(operator1, django_assert_max_num_queries):
    for n in range(12):
        waiting_call(f"CAmany{n}")
    client = api_as(operator1)
    from django.db import connection

    with CaptureQueriesContext(connection) as few:
        client.get(f"{API}/?page_size=2")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(f"{API}/?page_size=12")


# --- the softphone token -----------------------------------------------------------------------


def test_without_softphone_settings_the_token_is_a_503(operator1):
    response = api_as(operator1).get("/api/v1/telephony/token/")
    assert response.status_code == 503
    assert "TWILIO_API_KEY_SID" in response.json()["detail"]


def test_the_token_carries_a_voice_grant_for_the_operator(operator1, settings):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_API_KEY_SID = "SK" + "2" * 32
    settings.TWILIO_API_KEY_SECRET = "api-key-secret-for-tests-0123456789abcdef"
    settings.TWILIO_TWIML_APP_SID = "AP" + "3" * 32
    response = api_as(operator1).get("/api/v1/telephony/token/")
    assert response.status_code == 200
    body = response.json()
    assert body["identity"] == f"operator_{operator1.pk}"
    claims = jwt.decode(body["token"], settings.TWILIO_API_KEY_SECRET, algorithms=["HS256"])
    assert claims["iss"] == settings.TWILIO_API_KEY_SID
    assert claims["sub"] == ACCOUNT_SID
    assert claims["exp"] - claims["nbf"] <= 3600
    grants = claims["grants"]
    assert grants["identity"] == body["identity"]
    assert grants["voice"]["incoming"] == {"allow": True}
    assert grants["voice"]["outgoing"]["application_sid"] == settings.TWILIO_TWIML_APP_SID


def test_agency_staff_get_no_softphone_token(dpkp_staff):
    assert api_as(dpkp_staff).get("/api/v1/telephony/token/").status_code == 403


def test_an_empty_patch_keeps_the_classification(operator1):
    call = waiting_call()
    client = api_as(operator1)
    client.patch(f"{API}/{call.pk}/", {"classification": "normal"}, format="json")
    response = client.patch(f"{API}/{call.pk}/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["classification"] == "normal"


def test_the_operator_ends_the_call_they_hold(operator1, operator2):
    call = waiting_call()
    api_as(operator1).post(f"{API}/{call.pk}/pick-up/")
    assert api_as(operator2).post(f"{API}/{call.pk}/hang-up/").status_code == 409
    response = api_as(operator1).post(f"{API}/{call.pk}/hang-up/")
    assert response.status_code == 200
    assert response.json()["queue_state"] == "ended"
    assert not Call.objects.get(pk=call.pk).missed
    assert api_as(operator1).post(f"{API}/{call.pk}/hang-up/").status_code == 409


def test_ending_a_call_with_twilio_hangs_up_the_operators_leg(twilio, operator1, client):
    call = claimed_call(operator1)
    answering.operator_answered(call.pk, leg_sid="CAoperatorleg")
    twilio.answer(200, {"sid": "CAoperatorleg", "status": "completed"})
    assert api_as(operator1).post(f"{API}/{call.pk}/hang-up/").status_code == 200
    assert twilio.requests == [
        ("POST", f"{TWILIO_API}/Calls/CAoperatorleg.json", {"Status": "completed"})
    ]
    params = voice_params(DialCallStatus="completed")
    root = twiml(post_twilio(client, f"/calls/twilio/bridge/{call.pk}/done/", params))
    assert root.find("Hangup") is not None


def test_an_operator_on_a_call_cannot_pick_up_a_second_caller(operator1, client):
    first, second = waiting_call("CAfirst"), waiting_call("CAsecond", caller="+6281200000002")
    operator = api_as(operator1)
    assert operator.post(f"{API}/{first.pk}/pick-up/").status_code == 200
    response = operator.post(f"{API}/{second.pk}/pick-up/")
    assert response.status_code == 409
    assert Call.objects.get(pk=second.pk).queue_state == "waiting"
    missed = missed_call(client, "CAmissed2")
    assert operator.post(f"{API}/{missed.pk}/callback/").status_code == 409
    operator.post(f"{API}/{first.pk}/hang-up/")
    assert operator.post(f"{API}/{second.pk}/pick-up/").status_code == 200


def test_without_twilio_callbacks_the_call_shows_in_call_then_completed(operator1):
    call = waiting_call()
    operator = api_as(operator1)
    assert operator.post(f"{API}/{call.pk}/pick-up/").json()["status"] == "in-progress"
    ended = operator.post(f"{API}/{call.pk}/hang-up/").json()
    assert ended["status"] == "completed"
    assert ended["ended_at"] is not None
