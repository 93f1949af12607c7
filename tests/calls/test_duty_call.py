"""The escalation call to an agency's duty officer (the `call_agency` step): Twilio fetches the
briefing TwiML, and "tekan 1 untuk menerima" acknowledges the assignment on the agency's
behalf. Requests are signed with the real RequestValidator (tests.conftest.post_signed)."""

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import time_machine

from agencies.models import Agency, EscalationPolicy
from dispatch import escalation, incidents
from dispatch.models import Assignment, IncidentEvent, Notification
from tests.conftest import post_signed, sign
from tests.dispatch.helpers import new_incident, staff_of

pytestmark = pytest.mark.usefixtures("cilegon")

T0 = datetime(2026, 11, 10, 2, 0, 0, tzinfo=UTC)
DPKP_PHONE = "+62254377113"
CALL_PARAMS = {
    "CallSid": "CAduty0001",
    "AccountSid": "AC" + "0" * 32,
    "From": "+15005550006",
    "To": DPKP_PHONE,
    "CallStatus": "in-progress",
    "Direction": "outbound-api",
}


def call_url(notification_id):
    return f"/calls/twilio/duty/{notification_id}/"


def answer_url(notification_id):
    return f"/calls/twilio/duty/{notification_id}/answer/"


@pytest.fixture
def duty_call(django_capture_on_commit_callbacks):
    """A DPKP assignment whose `call_agency` step has fired: its voice notification row."""
    agency = Agency.objects.get(code="DPKP")
    agency.escalation_policy = EscalationPolicy.objects.create(
        name="call at 5 min", steps=[{"after_seconds": 300, "action": "call_agency"}]
    )
    agency.save()
    with time_machine.travel(T0, tick=False):
        incident = new_incident("FIRE")
        incidents.dispatch(incident.pk, actor=None, agencies=[agency])
    with (
        time_machine.travel(T0 + timedelta(seconds=300), tick=False),
        django_capture_on_commit_callbacks(),  # the call itself is not placed here
    ):
        assert escalation.run_due() == 1
    return Notification.objects.get(channel="voice")


def twiml(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ElementTree.fromstring(response.content)


def said(root):
    return " ".join(say.text or "" for say in root.iter("Say"))


def acknowledgements():
    return list(IncidentEvent.objects.filter(type="assignment.acknowledged"))


def test_the_briefing_asks_to_press_1(client, duty_call):
    root = twiml(post_signed(client, call_url(duty_call.id), CALL_PARAMS))
    [gather] = root.findall("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == answer_url(duty_call.id)
    assert gather.get("method") == "POST"
    [say] = gather.findall("Say")
    assert say.get("language") == "id-ID"
    reference = duty_call.assignment.incident.reference
    assert reference in say.text
    assert "Tekan 1" in say.text
    assert "Kebakaran" in say.text
    assert "Kec. Citangkil" in say.text
    assert "DPKP" in say.text
    # No key pressed: Twilio falls through the Gather to a closing sentence.
    after = root.findall("Say")
    assert len(after) == 1
    assert after[0].get("language") == "id-ID"


def test_pressing_1_acknowledges_on_the_agencys_behalf(client, duty_call):
    root = twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "1"}))
    assert "Terima kasih" in said(root)
    assert "DPKP" in said(root)

    assignment = Assignment.objects.get(id=duty_call.assignment_id)
    assert assignment.status == Assignment.Status.ACKNOWLEDGED
    assert assignment.acknowledged_by is None
    assert assignment.acknowledged_at is not None
    assert assignment.escalate_at is None
    [event] = acknowledgements()
    assert event.actor is None
    assert event.data["on_behalf"] == {
        "via": "voice",
        "phone": DPKP_PHONE,
        "notification": duty_call.id,
    }
    assert event.data["assignment"]["id"] == assignment.id
    assert assignment.incident.status == "in_progress"


def test_pressing_1_twice_acknowledges_once(client, duty_call):
    twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "1"}))
    root = twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "1"}))
    assert "sudah diterima" in said(root)
    assert len(acknowledgements()) == 1


def test_pressing_1_after_staff_acknowledged_on_the_console(client, duty_call):
    staff = staff_of("DPKP")
    incidents.acknowledge(duty_call.assignment_id, actor=staff)
    root = twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "1"}))
    assert "sudah diterima" in said(root)
    [event] = acknowledgements()
    assert event.actor == staff
    assert "on_behalf" not in event.data


@pytest.mark.parametrize("digits", ["2", "9", "*", ""])
def test_another_key_repeats_the_briefing(client, duty_call, digits):
    root = twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": digits}))
    [redirect] = root.findall("Redirect")
    assert redirect.text == call_url(duty_call.id)
    assert redirect.get("method") == "POST"
    assert acknowledgements() == []
    assert Assignment.objects.get(id=duty_call.assignment_id).status == "pending"


def test_a_forged_request_is_refused(client, duty_call):
    for path in (call_url(duty_call.id), answer_url(duty_call.id)):
        params = {**CALL_PARAMS, "Digits": "1"}
        assert post_signed(client, path, params, token="not-the-token").status_code == 403
        assert client.post(path, params).status_code == 403  # unsigned
    # Signed for other parameters than those sent.
    response = client.post(
        answer_url(duty_call.id),
        {**CALL_PARAMS, "Digits": "1"},
        HTTP_X_TWILIO_SIGNATURE=sign(
            "http://testserver" + answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "2"}
        ),
    )
    assert response.status_code == 403
    assert acknowledgements() == []


def test_only_post_is_accepted(client, duty_call):
    assert client.get(call_url(duty_call.id)).status_code == 405


def test_signed_for_the_public_url_behind_a_proxy(client, duty_call, settings):
    settings.PUBLIC_BASE_URL = "https://112.example.go.id"
    path = answer_url(duty_call.id)
    params = {**CALL_PARAMS, "Digits": "1"}
    assert post_signed(client, path, params).status_code == 403  # signed for testserver
    twiml(post_signed(client, path, params, base=settings.PUBLIC_BASE_URL))
    assert len(acknowledgements()) == 1


def test_an_unknown_notification_gets_polite_twiml(client, duty_call):
    missing = duty_call.id + 1000
    for path in (call_url(missing), answer_url(missing)):
        root = twiml(post_signed(client, path, {**CALL_PARAMS, "Digits": "1"}))
        assert "tidak lagi berlaku" in said(root)
        assert root.findall("Gather") == []
    assert acknowledgements() == []


def test_an_sms_notification_is_not_a_duty_call(client, duty_call):
    sms = Notification.objects.create(
        assignment=duty_call.assignment, step=7, channel="sms", recipient=DPKP_PHONE
    )
    root = twiml(post_signed(client, answer_url(sms.id), {**CALL_PARAMS, "Digits": "1"}))
    assert "tidak lagi berlaku" in said(root)
    assert acknowledgements() == []


@pytest.mark.parametrize("how", ["acknowledged", "cancelled"])
def test_the_briefing_for_a_handled_assignment_says_so(client, duty_call, how):
    if how == "acknowledged":
        incidents.acknowledge(duty_call.assignment_id, actor=staff_of("DPKP"))
    else:
        incidents.update_incident(duty_call.assignment.incident_id, actor=None, status="cancelled")
    root = twiml(post_signed(client, call_url(duty_call.id), CALL_PARAMS))
    assert "sudah ditangani" in said(root)
    assert root.findall("Gather") == []
    root = twiml(post_signed(client, answer_url(duty_call.id), {**CALL_PARAMS, "Digits": "1"}))
    assert "sudah diterima atau ditutup" in said(root)
