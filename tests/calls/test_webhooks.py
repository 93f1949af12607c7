"""The Twilio webhooks (CONTRACT §4), signed with the real twilio RequestValidator."""

from datetime import UTC, datetime
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.db import OperationalError

from calls import intake
from calls.models import Call
from dispatch import events
from dispatch.models import Incident, IncidentEvent
from tests.conftest import post_signed, sign

pytestmark = pytest.mark.usefixtures("cilegon")

VOICE = "/calls/twilio/voice/"
STATUS = "/calls/twilio/status/"
SMS = "/calls/twilio/sms/"
ACCOUNT = "AC" + "0" * 32
PUBLIC = "https://112.example.go.id"

T_RINGING = "Tue, 10 Nov 2026 02:00:00 +0000"
T_ANSWERED = "Tue, 10 Nov 2026 02:00:07 +0000"
T_ENDED = "Tue, 10 Nov 2026 02:01:49 +0000"


def utc(hour, minute, second):
    return datetime(2026, 11, 10, hour, minute, second, tzinfo=UTC)


def voice_params(sid="CAvoice1", **extra):
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": "081234567890",
        "To": "112",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def sms_params(sid="SMtext1", body="Kebakaran di Jl. Sudirman, Jombang", **extra):
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": "+6281234567890",
        "To": "112",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def status_callback(client, status, *, sid="CAvoice1", sequence=None, at=None, duration=None):
    params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+6281234567890", "To": "112"}
    params["CallStatus"] = status
    if sequence is not None:
        params["SequenceNumber"] = str(sequence)
    if at is not None:
        params["Timestamp"] = at
    if duration is not None:
        params["CallDuration"] = str(duration)
    response = post_signed(client, STATUS, params)
    assert response.status_code == 204
    return response


def twiml(response):
    """The answer as parsed XML: a malformed reply would fail here, as it would at Twilio."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return root


def assert_queued(response, settings):
    root = twiml(response)
    say = root.find("Say")
    assert say.get("language") == "id-ID"
    assert "112" in say.text
    assert root.find("Enqueue").text == settings.OPERATOR_QUEUE_NAME
    assert root.find("Dial") is None


def row_counts():
    return Call.objects.count(), Incident.objects.count(), IncidentEvent.objects.count()


def event_types(**filters):
    timeline = IncidentEvent.objects.filter(**filters).order_by("id")
    return list(timeline.values_list("type", flat=True))


# --- the voice webhook ---------------------------------------------------------------------


def test_signed_voice_call_is_queued_with_an_indonesian_greeting(client, settings):
    assert_queued(post_signed(client, VOICE, voice_params()), settings)


def test_the_greeting_follows_the_configuration(client, settings):
    """The answer is built once, not per call: a changed setting still changes it."""
    settings.CITY_NAME = "Kota Serang"
    settings.OPERATOR_QUEUE_NAME = "serang-112"
    root = twiml(post_signed(client, VOICE, voice_params()))
    assert "Kota Serang" in root.find("Say").text
    assert root.find("Enqueue").text == "serang-112"


def test_signed_voice_call_records_the_call_its_incident_and_their_timeline(client):
    post_signed(client, VOICE, voice_params())

    call = Call.objects.get()
    incident = Incident.objects.get()
    assert (call.sid, call.channel, call.status) == ("CAvoice1", "voice", "ringing")
    assert call.incident == incident
    assert incident.status == "new"
    assert incident.caller_phone == "+6281234567890"
    assert event_types(incident=incident) == ["incident.created", "call.created"]
    created = IncidentEvent.objects.get(type="call.created")
    assert created.data["call"]["sid"] == "CAvoice1"


def test_twilio_form_encoded_voice_request_is_accepted(client, settings):
    # Twilio posts application/x-www-form-urlencoded; the signature covers the same params.
    params = voice_params()
    response = client.post(
        VOICE,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign("http://testserver" + VOICE, params),
    )
    assert_queued(response, settings)
    assert Call.objects.filter(sid="CAvoice1").exists()


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("081234567890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("0254 391234", "+62254391234"),
        ("anonymous", "anonymous"),
    ],
)
def test_caller_number_is_stored_in_e164(client, raw, e164):
    post_signed(client, VOICE, voice_params(From=raw))
    assert Call.objects.get().from_number == e164
    assert Incident.objects.get().caller_phone == e164


def test_same_call_sid_twice_makes_one_call_and_one_incident(client, settings):
    first = post_signed(client, VOICE, voice_params())
    events_after_first = IncidentEvent.objects.count()
    second = post_signed(client, VOICE, voice_params())

    assert_queued(first, settings)
    assert_queued(second, settings)
    assert Call.objects.count() == 1
    assert Incident.objects.count() == 1
    assert IncidentEvent.objects.count() == events_after_first


def test_two_different_calls_get_two_incidents_with_distinct_references(client):
    post_signed(client, VOICE, voice_params("CAone"))
    post_signed(client, VOICE, voice_params("CAtwo"))
    references_ = set(Incident.objects.values_list("reference", flat=True))
    assert len(references_) == 2


# --- signatures: a missing or wrong one gets 403 and writes nothing -------------------------


def test_forged_signature_is_refused_and_writes_nothing(client):
    response = post_signed(client, VOICE, voice_params(), token="not-the-auth-token")
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_missing_signature_header_is_refused(client):
    response = client.post(VOICE, voice_params())
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_parameter_added_after_signing_is_refused(client):
    params = voice_params()
    signature = sign("http://testserver" + VOICE, params)
    response = client.post(
        VOICE, {**params, "Extra": "unsigned"}, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_parameter_changed_after_signing_is_refused(client):
    params = voice_params()
    signature = sign("http://testserver" + VOICE, params)
    response = client.post(
        VOICE, {**params, "From": "+6289999999999"}, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_signature_for_another_endpoint_is_refused(client):
    params = voice_params()
    signature = sign("http://testserver" + STATUS, params)
    response = client.post(VOICE, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403


@pytest.mark.parametrize("path", [VOICE, STATUS, SMS])
def test_without_an_auth_token_every_webhook_fails_closed(client, settings, path):
    settings.TWILIO_AUTH_TOKEN = ""
    # Anyone can compute a signature with an empty key; it must not be trusted.
    params = {**voice_params(), **sms_params()}
    response = post_signed(client, path, params, token="")
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


@pytest.mark.parametrize("path", [VOICE, STATUS, SMS])
def test_get_is_not_allowed(client, path):
    response = client.get(path, voice_params())
    assert response.status_code == 405
    assert row_counts() == (0, 0, 0)


def test_behind_a_tls_proxy_the_public_url_is_the_signed_one(client, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    response = post_signed(client, VOICE, voice_params(), base=PUBLIC)
    assert_queued(response, settings)
    assert Call.objects.count() == 1


def test_behind_a_tls_proxy_a_signature_over_the_local_url_is_refused(client, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    response = post_signed(client, VOICE, voice_params(), base="http://testserver")
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_signed_url_keeps_the_query_string(client, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    response = post_signed(client, VOICE + "?tenant=cilegon", voice_params(), base=PUBLIC)
    assert_queued(response, settings)


# --- the caller is never dropped -------------------------------------------------------------


def fail_intake(*args, **kwargs):
    raise OperationalError("could not connect to server")


def test_intake_failure_still_queues_the_caller(client, settings, monkeypatch):
    monkeypatch.setattr(intake, "receive_call", fail_intake)
    response = post_signed(client, VOICE, voice_params())
    assert_queued(response, settings)


def test_intake_failure_dials_the_fallback_number_when_configured(client, settings, monkeypatch):
    settings.FALLBACK_PHONE_NUMBER = "+62254391112"
    monkeypatch.setattr(intake, "receive_call", fail_intake)
    root = twiml(post_signed(client, VOICE, voice_params()))
    assert root.find("Say").get("language") == "id-ID"
    assert root.find("Dial").text == "+62254391112"
    assert root.find("Enqueue") is None


def test_fallback_number_is_not_used_while_intake_works(client, settings):
    settings.FALLBACK_PHONE_NUMBER = "+62254391112"
    assert_queued(post_signed(client, VOICE, voice_params()), settings)


def test_failure_while_opening_the_incident_leaves_no_half_recorded_call(
    client, settings, monkeypatch
):
    def no_timeline(*args, **kwargs):
        raise OperationalError("timeline unavailable")

    # After the call, its incident and their events are written, before the commit.
    monkeypatch.setattr(events, "publish_after_commit", no_timeline)
    response = post_signed(client, VOICE, voice_params())
    assert_queued(response, settings)
    # All or nothing: a later retry or status callback records the call with its incident.
    assert row_counts() == (0, 0, 0)


def test_signed_voice_request_without_call_sid_still_gets_twiml(client, settings):
    params = voice_params()
    del params["CallSid"]
    assert_queued(post_signed(client, VOICE, params), settings)
    assert row_counts() == (0, 0, 0)


def test_broken_channel_layer_neither_drops_the_caller_nor_loses_events(
    client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    def no_layer():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(events, "get_channel_layer", no_layer)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_signed(client, VOICE, voice_params())
    assert callbacks  # publish() really ran, and failed quietly
    assert_queued(response, settings)
    assert event_types() == ["incident.created", "call.created"]


# --- status callbacks --------------------------------------------------------------------------


def test_status_callbacks_in_order_record_the_call_lifecycle(client):
    post_signed(client, VOICE, voice_params())
    status_callback(client, "ringing", sequence=0, at=T_RINGING)
    status_callback(client, "in-progress", sequence=1, at=T_ANSWERED)
    status_callback(client, "completed", sequence=2, at=T_ENDED, duration=102)

    call = Call.objects.get()
    assert call.status == "completed"
    assert call.answered_at == utc(2, 0, 7)
    assert call.ended_at == utc(2, 1, 49)
    assert call.duration_seconds == 102
    last = IncidentEvent.objects.filter(type="call.updated").latest("id")
    assert last.data["call"]["status"] == "completed"


def test_completed_before_in_progress_still_ends_completed_and_answered(client):
    post_signed(client, VOICE, voice_params())
    status_callback(client, "completed", sequence=2, at=T_ENDED, duration=102)
    status_callback(client, "in-progress", sequence=1, at=T_ANSWERED)

    call = Call.objects.get()
    assert call.status == "completed"
    assert call.answered_at == utc(2, 0, 7)
    assert call.ended_at == utc(2, 1, 49)
    assert call.duration_seconds == 102


def test_late_ringing_never_undoes_a_finished_call(client):
    post_signed(client, VOICE, voice_params())
    status_callback(client, "completed", sequence=2, at=T_ENDED, duration=102)
    status_callback(client, "ringing", sequence=0, at=T_RINGING)
    assert Call.objects.get().status == "completed"


@pytest.mark.parametrize("status", ["ringing", "in-progress", "completed"])
def test_repeated_identical_status_callback_changes_nothing(client, status):
    post_signed(client, VOICE, voice_params())
    status_callback(client, status, sequence=1, at=T_ANSWERED, duration=102)
    before = Call.objects.values().get()
    updates = IncidentEvent.objects.filter(type="call.updated").count()

    status_callback(client, status, sequence=1, at=T_ANSWERED, duration=102)

    assert Call.objects.values().get() == before
    assert IncidentEvent.objects.filter(type="call.updated").count() == updates


@pytest.mark.parametrize("arrival", [("busy", "completed"), ("completed", "busy")])
def test_higher_sequence_number_wins_whatever_the_arrival_order(client, arrival):
    sequence = {"busy": 3, "completed": 2}
    post_signed(client, VOICE, voice_params())
    for status in arrival:
        status_callback(client, status, sequence=sequence[status], at=T_ENDED)
    call = Call.objects.get()
    assert (call.status, call.status_sequence) == ("busy", 3)


def test_status_callback_for_an_unknown_call_records_the_call_and_its_incident(client):
    # The voice webhook never got through; the caller must not be lost.
    status_callback(client, "completed", sid="CAlost", sequence=2, at=T_ENDED, duration=30)

    call = Call.objects.get(sid="CAlost")
    assert call.status == "completed"
    assert call.from_number == "+6281234567890"
    assert call.incident is not None
    assert call.incident.caller_phone == "+6281234567890"
    assert event_types(incident=call.incident)[:2] == ["incident.created", "call.created"]


def test_voice_webhook_after_the_status_callback_adds_no_second_incident(client, settings):
    status_callback(client, "in-progress", sequence=1, at=T_ANSWERED)
    assert_queued(post_signed(client, VOICE, voice_params()), settings)
    assert Call.objects.count() == 1
    assert Incident.objects.count() == 1
    assert Call.objects.get().status == "in-progress"


def test_unknown_call_status_is_accepted_and_ignored(client):
    post_signed(client, VOICE, voice_params())
    before = Call.objects.values().get()
    counts = row_counts()

    status_callback(client, "teleported", sequence=5, at=T_ENDED)
    status_callback(client, "teleported", sid="CAnever", sequence=5, at=T_ENDED)

    assert Call.objects.values().get() == before
    assert row_counts() == counts


def test_status_callback_without_call_sid_is_a_bad_request(client):
    response = post_signed(client, STATUS, {"CallStatus": "completed", "AccountSid": ACCOUNT})
    assert response.status_code == 400
    assert row_counts() == (0, 0, 0)


def test_forged_status_callback_changes_nothing(client):
    post_signed(client, VOICE, voice_params())
    before = Call.objects.values().get()
    counts = row_counts()
    params = {"CallSid": "CAvoice1", "CallStatus": "completed", "CallDuration": "1"}
    response = post_signed(client, STATUS, params, token="not-the-auth-token")
    assert response.status_code == 403
    assert Call.objects.values().get() == before
    assert row_counts() == counts


def test_status_timestamp_in_utc_without_a_zone_is_read_as_utc(client):
    # RFC 2822 "-0000" is UTC; Python returns it naive, which Django would read as local time.
    post_signed(client, VOICE, voice_params())
    status_callback(client, "in-progress", sequence=1, at="Tue, 10 Nov 2026 02:00:07 -0000")
    assert Call.objects.get().answered_at == utc(2, 0, 7)


@pytest.mark.parametrize("garbage", ["", "yesterday", "Tue, 99 Nov 2026 99:00:00 +0000"])
def test_unreadable_timestamp_falls_back_to_now(client, garbage):
    post_signed(client, VOICE, voice_params())
    before = datetime.now(UTC)
    status_callback(client, "in-progress", sequence=1, at=garbage)
    assert Call.objects.get().answered_at >= before


def test_unreadable_sequence_number_is_ignored_not_an_error(client):
    post_signed(client, VOICE, voice_params())
    params = {"CallSid": "CAvoice1", "CallStatus": "in-progress", "SequenceNumber": "x"}
    assert post_signed(client, STATUS, params).status_code == 204
    assert Call.objects.get().status == "in-progress"


# --- SMS to 112 ------------------------------------------------------------------------------


def test_signed_sms_opens_an_incident_and_replies_with_its_reference(client):
    root = twiml(post_signed(client, SMS, sms_params()))

    incident = Incident.objects.get()
    call = Call.objects.get()
    assert incident.reference in root.find("Message").text
    assert (call.sid, call.channel, call.status) == ("SMtext1", "sms", "received")
    assert call.body == "Kebakaran di Jl. Sudirman, Jombang"
    assert call.from_number == "+6281234567890"
    assert call.incident == incident
    assert incident.description == "Kebakaran di Jl. Sudirman, Jombang"
    assert incident.caller_phone == "+6281234567890"
    assert event_types(incident=incident) == [
        "incident.created",
        "call.created",
        "incident.message_received",
    ]


def test_same_message_sid_twice_makes_one_record(client):
    first = twiml(post_signed(client, SMS, sms_params()))
    second = twiml(post_signed(client, SMS, sms_params()))
    assert Call.objects.count() == 1
    assert Incident.objects.count() == 1
    assert first.find("Message").text == second.find("Message").text


def test_forged_sms_is_refused_and_writes_nothing(client):
    response = post_signed(client, SMS, sms_params(), token="not-the-auth-token")
    assert response.status_code == 403
    assert row_counts() == (0, 0, 0)


def test_sms_without_message_sid_is_a_bad_request(client):
    params = sms_params()
    del params["MessageSid"]
    assert post_signed(client, SMS, params).status_code == 400
    assert row_counts() == (0, 0, 0)


def test_script_in_an_sms_is_stored_as_data_and_never_echoed(client):
    payload = '<script>alert(1)</script> & ]]> "kebakaran"'
    response = post_signed(client, SMS, sms_params(body=payload))

    root = twiml(response)  # well-formed XML
    assert b"<script" not in response.content
    assert b"alert(1)" not in response.content
    assert [child.tag for child in root] == ["Message"]
    assert Call.objects.get().body == payload
    assert Incident.objects.get().description == payload


def test_unicode_sms_body_is_kept_intact(client):
    body = "Banjir setinggi 1 m — warga butuh evakuasi 🚨"
    twiml(post_signed(client, SMS, sms_params(body=body)))
    assert Call.objects.get().body == body


# --- request size ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [VOICE, STATUS, SMS])
def test_oversized_body_is_refused_and_writes_nothing(client, path):
    params = {**voice_params(), **sms_params(body="x" * (256 * 1024 + 1))}
    response = post_signed(client, path, params)
    assert response.status_code == 413
    assert row_counts() == (0, 0, 0)


def test_body_just_under_the_limit_is_accepted(client):
    params = sms_params(body="x" * (200 * 1024))
    assert post_signed(client, SMS, params).status_code == 200
    assert Call.objects.count() == 1
