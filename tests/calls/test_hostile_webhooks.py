"""Signed Twilio requests with values no real Twilio request carries (issue 8, defect 6): a
10,000-character Sid, NUL characters, integers out of any column's range, absurd timestamps.
The platform stores what can be stored, clamps or drops what cannot, and never answers 500 —
and a 112 SMS always reaches the operators. Signed with the real RequestValidator."""

import logging
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from calls.models import Call, Message
from dispatch.models import Incident
from tests.conftest import post_signed

pytestmark = pytest.mark.usefixtures("cilegon", "no_errors_logged")

VOICE = "/calls/twilio/voice/"
STATUS = "/calls/twilio/status/"
SMS = "/calls/twilio/sms/"
QUEUE = "/calls/twilio/queue/"
WAIT = "/calls/twilio/wait/"
ACCOUNT = "AC" + "0" * 32
HUGE_SID = "CA" + "f" * 9998
OUT_OF_RANGE = "99999999999999999999"
INT_MAX = 2_147_483_647


def voice_params(sid="CAhostile1", **extra):
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": "+6281234567890",
        "To": "112",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def sms_params(sid="SMhostile1", body="Kebakaran di Citangkil", **extra):
    return {"MessageSid": sid, "AccountSid": ACCOUNT, "From": "+6281234567890", "To": "112",
            "Body": body, **extra}  # fmt: skip


def twiml(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return root


def status(client, **params):
    response = post_signed(client, STATUS, {**voice_params(), **params})
    assert response.status_code == 204, response.content[:300]
    return Call.objects.get()


@pytest.fixture
def no_errors_logged(caplog):
    """A fallback that hides a failure is not storing what can be stored."""
    caplog.set_level(logging.ERROR)
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- Sids -------------------------------------------------------------------------------------


def test_voice_call_with_a_huge_sid_is_queued_and_recorded_once(client):
    for _retry in range(2):
        root = twiml(post_signed(client, VOICE, voice_params(HUGE_SID)))
        assert root.find("Enqueue") is not None
    call = Call.objects.get()
    assert len(call.sid) <= 64
    assert Incident.objects.count() == 1


def test_status_callback_with_a_huge_sid_finds_the_call_its_voice_webhook_recorded(client):
    post_signed(client, VOICE, voice_params(HUGE_SID))
    call = status(client, CallSid=HUGE_SID, CallStatus="completed", CallDuration="12")
    assert (call.status, call.duration_seconds) == ("completed", 12)


def test_sms_with_a_huge_message_sid_still_reaches_the_operators(client):
    for _retry in range(2):
        root = twiml(post_signed(client, SMS, sms_params(HUGE_SID)))
    call = Call.objects.get()
    assert len(call.sid) <= 64
    assert call.body == "Kebakaran di Citangkil"
    assert call.incident.reference in root.find("Message").text


def test_two_huge_sids_sharing_their_first_64_characters_are_two_messages(client):
    twiml(post_signed(client, SMS, sms_params(HUGE_SID + "1", body="satu")))
    twiml(post_signed(client, SMS, sms_params(HUGE_SID + "2", body="dua")))
    assert sorted(Message.objects.values_list("body", flat=True)) == ["dua", "satu"]


@pytest.mark.parametrize(("sid", "stored"), [("SM\x00abc", "SMabc"), ("\x00\x00", "~")])
def test_sms_with_a_nul_in_its_sid_is_recorded(client, sid, stored):
    twiml(post_signed(client, SMS, sms_params(sid)))
    assert Call.objects.get().sid.startswith(stored)


def test_queue_action_with_a_huge_sid_records_the_call(client):
    params = voice_params(HUGE_SID, QueueResult="hangup", QueueTime="30")
    twiml(post_signed(client, QUEUE, params))
    call = Call.objects.get()
    assert (call.missed, call.wait_seconds) == (True, 30)


# --- NUL characters (PostgreSQL text refuses them) ----------------------------------------------


def test_sms_with_nul_in_from_and_body_is_recorded_without_them(client):
    root = twiml(
        post_signed(client, SMS, sms_params(body="Banjir\x00 di Grogol", From="0812\x00345678"))
    )
    call = Call.objects.get()
    assert call.body == "Banjir di Grogol"
    assert "\x00" not in call.from_number
    assert call.incident.description == "Banjir di Grogol"
    assert call.incident.reference in root.find("Message").text


def test_voice_call_with_nul_in_from_is_recorded(client):
    twiml(post_signed(client, VOICE, voice_params(From="+62812\x0034567890", To="1\x0012")))
    call = Call.objects.get()
    assert "\x00" not in call.from_number + call.to_number
    assert call.incident.caller_phone == call.from_number


@pytest.mark.parametrize("path", [STATUS, QUEUE])
def test_nul_everywhere_in_a_call_callback_is_no_error(client, path):
    params = {key: value + "\x00" for key, value in voice_params().items()}
    params.update(QueueResult="hangup\x00", QueueTime="5\x00", CallDuration="\x007")
    response = post_signed(client, path, params)
    assert response.status_code in (200, 204)
    assert Call.objects.get().sid == "CAhostile1"


# --- oversized text ---------------------------------------------------------------------------


def test_voice_call_with_huge_text_fields_is_recorded(client):
    huge = "x" * 10_000
    twiml(post_signed(client, VOICE, voice_params(From=huge, To=huge, CallStatus=huge)))
    assert Call.objects.count() == 1


def test_queue_action_with_a_huge_queue_result_is_recorded(client):
    twiml(post_signed(client, QUEUE, voice_params(QueueResult="h" * 10_000)))
    assert len(Call.objects.get().queue_result) <= 32


# --- integers out of range ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [OUT_OF_RANGE, "9" * 5000])
def test_out_of_range_sequence_number_is_clamped(client, value):
    post_signed(client, VOICE, voice_params())
    call = status(client, CallStatus="in-progress", SequenceNumber=value)
    assert (call.status, call.status_sequence) == ("in-progress", INT_MAX)


def test_negative_sequence_number_is_ignored(client):
    post_signed(client, VOICE, voice_params())
    call = status(client, CallStatus="in-progress", SequenceNumber="-5")
    assert call.status == "in-progress"


@pytest.mark.parametrize(
    ("value", "stored"), [(OUT_OF_RANGE, INT_MAX), ("-5", None), ("9" * 5000, INT_MAX)]
)
def test_out_of_range_call_duration_is_clamped_or_dropped(client, value, stored):
    post_signed(client, VOICE, voice_params())
    call = status(client, CallStatus="completed", CallDuration=value)
    assert (call.status, call.duration_seconds) == ("completed", stored)


@pytest.mark.parametrize(("value", "stored"), [(OUT_OF_RANGE, INT_MAX), ("-5", "now")])
def test_out_of_range_queue_time_is_clamped_or_dropped(client, value, stored):
    post_signed(client, VOICE, voice_params())
    twiml(post_signed(client, QUEUE, voice_params(QueueResult="hangup", QueueTime=value)))
    call = Call.objects.get()
    assert call.missed
    assert call.wait_seconds == (0 if stored == "now" else stored)


@pytest.mark.parametrize("value", [OUT_OF_RANGE, "-5", "9" * 5000, "x\x00"])
def test_the_wait_url_answers_whatever_the_position_and_time(client, value):
    root = twiml(post_signed(client, WAIT, voice_params(QueuePosition=value, QueueTime=value)))
    assert root.find("Say") is not None


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "Fri, 31 Dec 9999 23:59:59 -1200",
        "Fri, 31 Dec 9999 23:59:59 +0000",
        "Mon, 01 Jan 1900 00:00:00 +1400",
        "Sat, 01 Jan 1999 00:00:00 +0000",
        "Tue, 10 Nov 2099 02:00:00 +0000",
        "garbage\x00",
        "Tue, 10 Nov 2026 02:00:07 +99999999999999999999",
    ],
)
def test_absurd_or_garbage_timestamp_is_read_as_now(client, timestamp):
    post_signed(client, VOICE, voice_params())
    before = datetime.now(UTC)
    call = status(client, CallStatus="completed", Timestamp=timestamp)
    after = datetime.now(UTC)
    assert before <= call.ended_at <= after


def test_a_timestamp_within_a_day_ahead_is_kept(client):
    # Clocks drift: a slightly future Timestamp is Twilio's, not an attack.
    post_signed(client, VOICE, voice_params())
    ahead = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    call = status(
        client, CallStatus="completed", Timestamp=ahead.strftime("%a, %d %b %Y %H:%M:%S +0000")
    )
    assert call.ended_at == ahead
