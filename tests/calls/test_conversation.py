"""An incident's conversation with its caller by SMS (CONTRACT §10): a caller's texts thread into
their open incident of the last two hours; the command centre replies through the telephony
backend (Twilio's REST API faked at its `http_client`, the SMS gateway a real HTTP server);
delivery reports move a reply forward only, in whatever order they come."""

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import close_old_connections
from django.utils import timezone

import telephony
from agencies.models import Agency
from calls import intake, linking
from calls.models import Call, Message
from dispatch import incidents
from dispatch.models import Incident, IncidentEvent
from tests.conftest import api_as, make_user, post_signed, requires_postgres
from tests.dispatch.helpers import incident_url, new_incident
from tests.gateway_fake import signature
from tests.twilio_fake import FROM_NUMBER, PUBLIC, TWILIO_API

pytestmark = pytest.mark.usefixtures("cilegon")

CALLER = "+6281234567890"
SMS = "/calls/twilio/sms/"
GATEWAY_STATUS = "/calls/sms-gateway/status/"


def texted(sid, body="Tolong, ada kebakaran", number=CALLER):
    message, _created = intake.receive_sms({"MessageSid": sid, "From": number, "Body": body})
    return message


def messages_url(incident):
    return incident_url(incident.pk, "messages")


def conversation(user, incident):
    response = api_as(user).get(messages_url(incident))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def reply(user, incident, body="Di mana lokasi tepatnya?"):
    return api_as(user).post(messages_url(incident), {"body": body}, format="json")


def event_types(incident):
    return list(IncidentEvent.objects.filter(incident=incident).values_list("type", flat=True))


# --- threading -------------------------------------------------------------------------------


def test_a_second_text_joins_the_first_ones_incident():
    first = texted("SMone", "Kebakaran di Citangkil")
    second = texted("SMtwo", "Sudah menjalar ke rumah sebelah")
    assert second.incident == first.incident
    assert Incident.objects.count() == 1
    # The first text opened the incident and is its call; the second is a message only.
    assert Call.objects.get().sid == "SMone"
    assert (first.call_id, second.call_id) == (Call.objects.get().pk, None)
    assert event_types(first.incident).count("incident.message_received") == 2


def test_a_follow_up_gets_no_automatic_receipt_and_a_repeat_writes_nothing(client):
    first = post_signed(client, SMS, {"MessageSid": "SMa", "From": CALLER, "Body": "Tolong"})
    assert b"<Message>" in first.content
    for _delivery in range(2):
        follow_up = post_signed(client, SMS, {"MessageSid": "SMb", "From": CALLER, "Body": "Cepat"})
        assert follow_up.status_code == 200 and b"<Message>" not in follow_up.content
    assert Message.objects.count() == 2
    assert IncidentEvent.objects.filter(type="incident.message_received").count() == 2


def test_a_text_joins_the_callers_open_voice_incident():
    call, _created = intake.receive_call({"CallSid": "CAvoice", "From": "081234567890"})
    message = texted("SMafter")
    assert message.incident == call.incident and message.call is None


def test_the_two_hour_window_is_counted_from_the_incidents_creation():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = texted("SMstart")
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        assert texted("SMedge").incident == first.incident
    with time_machine.travel(start + timedelta(hours=2, seconds=1), tick=False):
        late = texted("SMlate")
    assert late.incident != first.incident and late.call is not None


@pytest.mark.parametrize("status", ["resolved", "closed", "cancelled"])
def test_a_text_after_the_incident_ended_opens_a_new_one(operator, status):
    first = texted("SMfirst")
    incident = incidents.locked_incident(first.incident_id)
    incidents.change_status(incident, status, operator)
    later = texted("SMlater", "Ada kebakaran lagi")
    assert later.incident != first.incident
    assert later.incident.description == "Ada kebakaran lagi"


def test_another_number_is_another_conversation():
    assert texted("SMa").incident != texted("SMb", number="+6281299999999").incident


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_texts_from_one_number_at_once_open_one_incident(cilegon):
    for round_ in range(8):
        number = f"+62812000000{round_:02d}"
        start = threading.Barrier(2)

        def arrive(sid, barrier=start, number=number):
            try:
                barrier.wait()
                texted(sid, number=number)
            finally:
                close_old_connections()

        threads = [threading.Thread(target=arrive, args=(f"SM{round_}-{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert Incident.objects.filter(caller_phone=number).count() == 1
        assert Message.objects.filter(number=number).values("incident").distinct().count() == 1


# --- reading the conversation ----------------------------------------------------------------


def test_the_conversation_oldest_first_in_the_contracts_shape(operator):
    first = texted("SMone", "<script>alert(1)</script> kebakaran")
    reply(operator, first.incident, "Bantuan sedang menuju lokasi")
    texted("SMtwo", "Terima kasih")
    items = conversation(operator, first.incident)
    assert [(m["direction"], m["body"], m["author"], m["status"]) for m in items] == [
        ("in", "<script>alert(1)</script> kebakaran", None, "received"),
        ("out", "Bantuan sedang menuju lokasi", "op", "simulated"),
        ("in", "Terima kasih", None, "received"),
    ]
    assert set(items[0]) >= {"id", "direction", "body", "at", "author", "status"}


def test_agency_staff_read_the_conversation_of_an_incident_they_hold_and_nothing_else(
    operator, dpkp_staff
):
    message = texted("SMone")
    assert api_as(dpkp_staff).get(messages_url(message.incident)).status_code == 404
    incident = message.incident
    incidents.dispatch(incident.pk, actor=operator, agencies=[Agency.objects.get(code="DPKP")])
    assert [m["body"] for m in conversation(dpkp_staff, incident)] == ["Tolong, ada kebakaran"]
    replay = api_as(dpkp_staff).get("/api/v1/events/?after=0").json()["results"]
    assert "incident.message_received" in [e["event"] for e in replay]
    assert reply(dpkp_staff, incident).status_code == 403


def test_unknown_incident_is_404_and_anonymous_is_refused(operator):
    assert api_as(operator).get("/api/v1/incidents/999999/messages/").status_code == 404
    assert api_as(None).get(messages_url(texted("SMx").incident)).status_code in (401, 403)


# --- replying --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({}, "body"),
        ([], "non_field_errors"),
    ],
)
def test_a_bad_reply_is_a_400_naming_the_field_and_sends_nothing(operator, body, field):
    incident = texted("SMone").incident
    response = api_as(operator).post(messages_url(incident), body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Message.objects.filter(direction="out").exists()


def test_a_reply_needs_a_number_to_text(operator):
    incident = new_incident("FIRE")  # typed in by an operator: no caller, no call
    response = reply(operator, incident)
    assert response.status_code == 409 and "nomor penelepon" in response.json()["detail"]


def test_a_reply_is_seen_at_once_and_then_its_outcome(operator):
    incident = texted("SMone").incident
    response = reply(operator, incident)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["direction"], body["status"], body["author"]) == ("out", "simulated", "op")
    sent = IncidentEvent.objects.filter(incident=incident, type__startswith="incident.message_")
    assert [(e.type, e.data["message"]["status"]) for e in sent.order_by("id")][1:] == [
        ("incident.message_sent", "queued"),
        ("incident.message_status", "simulated"),
    ]
    assert sent.get(type="incident.message_sent").actor == operator


def test_a_reply_through_twilio_is_the_exact_request_with_a_status_callback(operator, twilio):
    incident = texted("SMone").incident
    twilio.answer(201, {"sid": "SMreply1", "status": "queued"})
    response = reply(operator, incident, "Bantuan sedang menuju lokasi. Tetap di tempat aman.")
    assert response.status_code == 201 and response.json()["status"] == "queued"
    [(method, uri, data)] = twilio.requests
    message = Message.objects.get(direction="out")
    assert (method, uri) == ("POST", f"{TWILIO_API}/Messages.json")
    assert data == {
        "To": CALLER,
        "From": FROM_NUMBER,
        "Body": "Bantuan sedang menuju lokasi. Tetap di tempat aman.",
        "StatusCallback": f"{PUBLIC}/calls/twilio/message-status/{message.pk}/",
    }
    assert message.sid == "SMreply1"


def test_a_reply_the_provider_refuses_is_failed_with_the_reason(operator, twilio):
    incident = texted("SMone").incident
    twilio.answer(503, {"code": 20500, "message": "Service unavailable"})
    response = reply(operator, incident)
    assert response.status_code == 201
    assert response.json()["status"] == "failed" and "503" in response.json()["error"]


def twilio_status(client, message, status, error_code=None):
    params = {"MessageSid": "SMreply1", "MessageStatus": status, "AccountSid": "AC1"}
    if error_code:
        params["ErrorCode"] = error_code
    url = f"/calls/twilio/message-status/{message.pk}/"
    return post_signed(client, url, params, base=PUBLIC)


@pytest.fixture
def sent_reply(operator, twilio):
    incident = texted("SMone").incident
    twilio.answer(201, {"sid": "SMreply1", "status": "queued"})
    reply(operator, incident)
    return Message.objects.get(direction="out")


def status_events(message):
    return list(
        IncidentEvent.objects.filter(type="incident.message_status")
        .filter(data__message__id=message.pk)
        .order_by("id")
        .values_list("data__message__status", flat=True)
    )


@pytest.mark.parametrize(
    "order",
    [
        ["sending", "sent", "delivered"],
        ["delivered", "sent", "sending"],
        ["sent", "delivered", "delivered", "sending", "sent"],
    ],
)
def test_delivery_reports_in_any_order_end_delivered_with_one_event_each_step(
    client, settings, sent_reply, order
):
    settings.PUBLIC_BASE_URL = PUBLIC
    for status in order:
        assert twilio_status(client, sent_reply, status).status_code == 204
    sent_reply.refresh_from_db()
    assert sent_reply.status == "delivered"
    shown = status_events(sent_reply)
    assert shown[-1] == "delivered" and len(shown) == len(set(shown))


def test_an_undelivered_reply_says_why(client, sent_reply):
    twilio_status(client, sent_reply, "undelivered", error_code="30003")
    sent_reply.refresh_from_db()
    assert (sent_reply.status, sent_reply.error) == ("undelivered", "Twilio error 30003")


def test_a_forged_or_unknown_delivery_report_changes_nothing(client, sent_reply):
    forged = post_signed(
        client,
        f"/calls/twilio/message-status/{sent_reply.pk}/",
        {"MessageStatus": "failed"},
        base=PUBLIC,
        token="not-the-auth-token",
    )
    assert forged.status_code == 403
    unknown = post_signed(
        client, "/calls/twilio/message-status/999999/", {"MessageStatus": "sent"}, base=PUBLIC
    )
    assert unknown.status_code == 404
    nonsense = twilio_status(client, sent_reply, "received")
    assert nonsense.status_code == 204
    sent_reply.refresh_from_db()
    assert sent_reply.status == "queued"


def test_a_reply_through_the_sms_gateway_and_its_delivery_report(
    client, settings, operator, fake_gateway
):
    fake_gateway.answer(200, b'{"id": "out-77"}')
    incident = texted("SMone").incident
    assert reply(operator, incident, "Ambulans menuju lokasi").json()["status"] == "sent"
    [(_method, _path, _headers, raw)] = fake_gateway.requests
    assert json.loads(raw) == {"to": CALLER, "text": "Ambulans menuju lokasi"}

    def report(body, secret=settings.SMS_GATEWAY_SECRET):
        raw = json.dumps(body).encode()
        return client.generic(
            "POST",
            GATEWAY_STATUS,
            raw,
            content_type="application/json",
            HTTP_X_SIGNATURE=signature(raw, secret),
        )

    assert report({"id": "out-77", "status": "delivered"}, secret="wrong").status_code == 403
    assert report({"id": "out-77", "status": "exploded"}).status_code == 400
    assert report({"id": "unknown", "status": "delivered"}).status_code == 404
    for _repeat in range(2):
        assert report({"id": "out-77", "status": "delivered"}).json() == {"ok": True}
    assert report({"id": "out-77", "status": "sent"}).status_code == 200
    message = Message.objects.get(direction="out")
    assert message.status == "delivered" and status_events(message) == ["sent", "delivered"]


# --- merging and linking move the conversation ----------------------------------------------


def test_a_merge_moves_the_duplicates_texts(operator):
    first = new_incident("FIRE")
    duplicate = texted("SMdup", number="+6281200000001")
    reply(operator, duplicate.incident)
    linking.merge(duplicate.incident_id, first.pk, actor=operator)
    assert [m["direction"] for m in conversation(operator, first)] == ["in", "out"]
    told = IncidentEvent.objects.filter(incident=first, type="incident.updated").last()
    assert len(told.data["messages"]) == 2


def test_linking_an_sms_call_moves_its_text(operator):
    known = new_incident("FIRE")
    message = texted("SMlinked", number="+6281200000002")
    make_user("op2", "operator")
    # The SMS's own incident holds another call too: only this call (and its text) moves.
    other, _created = intake.receive_call({"CallSid": "CAother", "From": "+6281200000003"})
    linking.link(other.pk, message.incident_id, actor=operator)
    linking.link(message.call_id, known.pk, actor=operator)
    message.refresh_from_db()
    assert message.incident_id == known.pk


def test_the_console_backend_texts_nothing_but_the_log(operator, caplog, monkeypatch):
    monkeypatch.setattr(telephony, "TWILIO_HTTP_CLIENT", None)
    incident = texted("SMone").incident
    caplog.set_level("INFO", logger="dispatch.telephony")
    reply(operator, incident, "Tetap tenang")
    assert "Tetap tenang" in caplog.text and CALLER not in caplog.text


def test_the_conversation_costs_the_same_queries_however_long(
    operator, django_assert_max_num_queries
):
    incident = texted("SMfirst").incident
    for n in range(20):
        texted(f"SMmore{n}", f"pesan {n}")
        reply(operator, incident, f"balasan {n}")
    client = api_as(operator)
    with django_assert_max_num_queries(4):
        response = client.get(messages_url(incident))
    assert response.json()["count"] == 41
