"""The Indonesian SMS gateway (CONTRACT §10): its webhook `POST /calls/sms-gateway/`, signed
with HMAC-SHA256 of the raw body (computed here with hmac itself, not the platform's helper),
and the outbound backend that posts texts to the gateway, tested against a real HTTP server on
127.0.0.1."""

import hmac
import json
import logging
import time

import pytest

import telephony
from calls.models import Call, Message
from dispatch import tasks
from dispatch.models import Incident, IncidentEvent, Notification
from tests.gateway_fake import SECRET, signature

pytestmark = pytest.mark.usefixtures("cilegon", "gateway_secret")

URL = "/calls/sms-gateway/"


@pytest.fixture
def no_errors_logged(caplog):
    """Bad input is a 400, not a failure somebody must look into."""
    caplog.set_level(logging.ERROR)
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def text(id="msg-1", text="Kebakaran di Citangkil", **extra):  # noqa: A002
    return {"id": id, "from": "081234567890", "to": "112", "text": text, **extra}


def post_raw(client, raw, sig=None):
    headers = {} if sig is None else {"HTTP_X_SIGNATURE": sig}
    return client.generic("POST", URL, raw, content_type="application/json", **headers)


def post(client, body, secret=SECRET):
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return post_raw(client, raw, signature(raw, secret))


def nothing_written():
    return not Call.objects.exists() and not Incident.objects.exists()


# --- A signed text -----------------------------------------------------------------------------


def test_a_signed_text_opens_an_incident_like_a_twilio_sms(client):
    response = post(client, text())
    assert response.status_code == 200, response.content
    call = Call.objects.get()
    incident = Incident.objects.get()
    assert response.json() == {"ok": True, "incident": incident.reference}
    assert call.sid == "gw-msg-1"
    assert call.channel == Call.Channel.SMS
    assert call.from_number == "+6281234567890"  # normalised like a Twilio From
    assert call.body == "Kebakaran di Citangkil"
    assert call.incident == incident
    assert incident.description == "Kebakaran di Citangkil"
    assert incident.caller_phone == "+6281234567890"


def test_a_repeated_id_gets_the_same_answer_and_writes_nothing(client):
    first = post(client, text())
    events = IncidentEvent.objects.count()
    again = post(client, text())
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Call.objects.count() == Incident.objects.count() == 1
    assert IncidentEvent.objects.count() == events


def test_two_ids_are_two_texts(client):
    # From two numbers: two texts from one number may join one conversation (§10).
    first = post(client, text("a")).json()["incident"]
    second = post(client, text("b", text="Banjir", **{"from": "+6281311112222"})).json()
    assert first != second["incident"]
    assert set(Call.objects.values_list("sid", flat=True)) == {"gw-a", "gw-b"}


def test_a_long_id_is_stored_as_a_digest_and_still_idempotent(client):
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    first = post(client, text(long_a))
    assert post(client, text(long_a)).json() == first.json()
    post(client, text(long_b))
    sids = list(Message.objects.values_list("sid", flat=True))
    assert len(sids) == 2 and len(set(sids)) == 2
    assert all(sid.startswith("gw~") and len(sid) <= 64 for sid in sids)


def test_a_numeric_id_and_numbers_are_read_as_their_digits(client):
    response = post(client, {"id": 12345, "from": 81234567890, "to": 112, "text": "Tolong"})
    assert response.status_code == 200, response.content
    assert Call.objects.get().sid == "gw-12345"


@pytest.mark.usefixtures("no_errors_logged")
@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('112')</script><img src=x onerror=alert(1)>",
        "'; DROP TABLE calls_call; --",
        "  spasi di depan\r\n\tdan tab  ",
        "🔥 kebakaran \u202e terbalik \u200b",
        "",
    ],
)
def test_hostile_text_is_stored_as_text(client, hostile):
    response = post(client, text(text=hostile))
    assert response.status_code == 200, response.content
    assert Call.objects.get().body == hostile
    assert Incident.objects.get().description == hostile


# --- Refused: 403, nothing written -------------------------------------------------------------


@pytest.mark.parametrize(
    "sig",
    [
        None,
        "",
        "sha256=",
        "sha256=" + "0" * 64,
        "sha1=" + "0" * 40,
        "ünïcödé",
        signature(b"another body"),
        signature(json.dumps(text()).encode())[len("sha256=") :],  # the hex without its prefix
    ],
)
def test_a_missing_or_wrong_signature_is_refused(client, sig):
    response = post_raw(client, json.dumps(text()).encode(), sig)
    assert response.status_code == 403
    assert nothing_written()


def test_a_signature_with_another_secret_is_refused(client):
    assert post(client, text(), secret="not-the-secret").status_code == 403
    assert nothing_written()


def test_without_a_configured_secret_everything_is_refused(client, settings):
    settings.SMS_GATEWAY_SECRET = ""
    assert post(client, text(), secret="").status_code == 403
    assert nothing_written()


def test_an_unsigned_bad_body_is_refused_before_it_is_read(client):
    assert post_raw(client, b"{not json", "sha256=00").status_code == 403


def test_only_post(client):
    assert client.get(URL).status_code == 405


# --- Bad bodies: 400 naming the field, nothing written -----------------------------------------


@pytest.mark.usefixtures("no_errors_logged")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "detail"),
        (b"\xff\xfe\x00garbage", "detail"),
        (b"", "detail"),
        (b"[" * 100_000 + b"]" * 100_000, "detail"),
        ([text()], "non_field_errors"),
        ("just a string", "non_field_errors"),
        ({k: v for k, v in text().items() if k != "id"}, "id"),
        ({k: v for k, v in text().items() if k != "from"}, "from"),
        ({k: v for k, v in text().items() if k != "to"}, "to"),
        ({k: v for k, v in text().items() if k != "text"}, "text"),
        (text(id=None), "id"),
        (text(id=""), "id"),
        (text(id=["a"]), "id"),
        (text(id=True), "id"),
        (text(id="x" * 257), "id"),
        (text(**{"from": {"n": 1}}), "from"),
        (text(**{"from": "+62" + "1" * 40}), "from"),
        (text(to=False), "to"),
        (text(text=None), "text"),
        (text(text=["Kebakaran"]), "text"),
        (text(text="Kebakaran\x00di Citangkil"), "text"),
        (text(id="msg\x00-1"), "id"),
        (text(**{"from": "0812\x00"}), "from"),
        (text(text="a" * 10_000), "text"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(client, body, field):
    response = post(client, body)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert all(isinstance(message, str) and message for message in errors[field])
    assert nothing_written()


@pytest.mark.usefixtures("no_errors_logged")
def test_a_lone_surrogate_is_400_not_a_database_error(client):
    raw = b'{"id": "s1", "from": "081234567890", "to": "112", "text": "api \\ud800 api"}'
    response = post(client, raw)
    assert response.status_code == 400
    assert "text" in response.json()
    assert nothing_written()


def test_a_body_over_the_upload_limit_is_413(client, settings):
    raw = json.dumps(text(text="a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))).encode()
    response = post_raw(client, raw, signature(raw))
    assert response.status_code == 413
    assert nothing_written()


# --- Outbound: texts through the gateway -------------------------------------------------------


def test_a_text_goes_out_as_signed_json(fake_gateway):
    fake_gateway.answer(200, b'{"id": "out-77"}')
    provider_id = telephony.sms_gateway().send_sms("+6281234567890", "Segera ke lokasi <b>&</b>")
    assert provider_id == "out-77"
    [(method, path, headers, raw)] = fake_gateway.requests
    assert (method, path) == ("POST", "/send")
    assert json.loads(raw) == {"to": "+6281234567890", "text": "Segera ke lokasi <b>&</b>"}
    assert headers["Content-Type"].startswith("application/json")
    assert hmac.compare_digest(headers["X-Signature"], signature(raw))


def test_an_answer_without_an_id_still_counts_as_sent(fake_gateway):
    fake_gateway.answer(202, b"queued")
    assert telephony.sms_gateway().send_sms("+6281234567890", "Tes").startswith("gateway-")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, telephony.TransientSendError),
        (502, telephony.TransientSendError),
        (503, telephony.TransientSendError),
        (429, telephony.TransientSendError),
        (400, telephony.PermanentSendError),
        (401, telephony.PermanentSendError),
        (404, telephony.PermanentSendError),
        (302, telephony.PermanentSendError),  # not followed: the text goes nowhere else
    ],
)
def test_gateway_errors_are_transient_or_permanent(fake_gateway, status, error):
    fake_gateway.answer(status)
    with pytest.raises(error):
        telephony.sms_gateway().send_sms("+6281234567890", "Tes")
    assert len(fake_gateway.requests) == 1


def test_a_slow_gateway_is_a_transient_error(fake_gateway):
    fake_gateway.answer(200, delay=2)
    started = time.monotonic()
    with pytest.raises(telephony.TransientSendError):
        telephony.sms_gateway().send_sms("+6281234567890", "Tes")
    assert time.monotonic() - started < 1.5


def test_an_unreachable_gateway_is_a_transient_error(fake_gateway, settings):
    fake_gateway.close()
    with pytest.raises(telephony.TransientSendError):
        telephony.sms_gateway().send_sms("+6281234567890", "Tes")


def test_a_malformed_url_is_a_permanent_error(settings):
    settings.TELEPHONY_SMS_BACKEND = "gateway"
    settings.SMS_GATEWAY_URL = "not a url"
    with pytest.raises(telephony.PermanentSendError):
        telephony.sms_gateway().send_sms("+6281234567890", "Tes")


def test_the_gateway_backend_needs_its_url_and_secret(settings):
    settings.TELEPHONY_SMS_BACKEND = "gateway"
    settings.SMS_GATEWAY_URL = ""
    with pytest.raises(telephony.PermanentSendError):
        telephony.sms_gateway()


def test_texts_follow_the_voice_backend_unless_told_otherwise(settings, twilio):
    settings.TELEPHONY_SMS_BACKEND = ""
    assert telephony.sms_gateway().name == "twilio"
    settings.TELEPHONY_BACKEND = "console"
    assert telephony.sms_gateway().name == "console"
    settings.TELEPHONY_BACKEND = "twilio"
    settings.TELEPHONY_SMS_BACKEND = "console"
    assert telephony.sms_gateway().name == "console"
    assert telephony.gateway().name == "twilio"  # calls stay with Twilio


def test_an_escalation_sms_goes_through_the_gateway_while_twilio_does_voice(
    twilio, fake_gateway, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.dispatch.test_notifications import DPKP_PHONE, deliver_at, dispatched, fire

    monkeypatch.setattr(tasks.send_notification, "delay", lambda _id: None)
    dispatched()
    fire(120, django_capture_on_commit_callbacks)
    notification = Notification.objects.get(channel=Notification.Channel.SMS)
    fake_gateway.answer(200, b'{"id": "gw-out-1"}')
    deliver_at(121, notification)
    notification.refresh_from_db()
    assert (notification.status, notification.provider_id) == ("sent", "gw-out-1")
    [(_method, _path, headers, raw)] = fake_gateway.requests
    assert json.loads(raw) == {"to": DPKP_PHONE, "text": notification.body}
    assert headers["X-Signature"] == signature(raw)
    assert twilio.requests == []  # nothing went through Twilio


def test_an_aml_text_through_the_gateway_locates_and_opens_nothing(client):
    """CONTRACT §10: an AML text (either SMS endpoint) is a position, not a message."""
    aml = 'A"ML=1;lt=-6.01234;lg=106.05678;rd=25;top=20261129031500;lc=68;pm=G'
    response = post(client, text(id="aml-1", text=aml))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "incident": None}
    assert not Call.objects.exists()
    malformed = post(client, text(id="aml-2", text='A"ML=1;lt=999'))
    assert malformed.status_code == 200
    assert not Call.objects.exists()
