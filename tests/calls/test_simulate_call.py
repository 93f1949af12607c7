"""`manage.py simulate_call` (CONTRACT §3) against a real running server: the request it signs
must pass the same signature check as Twilio's."""

import io
import socket

import pytest
from django.core.management import CommandError, call_command

from calls.models import Call
from dispatch.models import Incident


def simulate(*args):
    out = io.StringIO()
    call_command("simulate_call", *args, stdout=out)
    return out.getvalue()


def test_simulated_call_reaches_the_server_and_opens_an_incident(
    live_server, transactional_db, cilegon
):
    output = simulate("--from", "081234567890", "--url", live_server.url)

    call = Call.objects.get()
    assert call.channel == "voice"
    assert call.sid.startswith("CA")
    assert call.from_number == "+6281234567890"
    assert call.incident == Incident.objects.get()
    assert output.startswith("200 /calls/twilio/voice/ from +6281234567890")
    assert "<Enqueue" in output


def test_simulated_sms_opens_an_incident_with_its_text(live_server, transactional_db, cilegon):
    output = simulate(
        "--from",
        "+62 812-3456-7890",
        "--sms",
        "Pohon tumbang di Jl. Ahmad Yani",
        "--url",
        live_server.url + "/",  # a trailing slash, as people paste URLs
    )

    call = Call.objects.get()
    assert call.channel == "sms"
    assert call.sid.startswith("SM")
    assert call.body == "Pohon tumbang di Jl. Ahmad Yani"
    assert call.incident.description == "Pohon tumbang di Jl. Ahmad Yani"
    assert call.incident.reference in output


def test_each_simulated_call_is_a_new_call(live_server, transactional_db, cilegon):
    simulate("--from", "081234567890", "--url", live_server.url)
    simulate("--from", "081234567890", "--url", live_server.url)
    assert Call.objects.count() == 2
    assert Incident.objects.count() == 2


def test_refused_signature_makes_the_command_fail(live_server, transactional_db, cilegon, settings):
    # The server rebuilds the signed URL from its public origin, which is not where we post.
    settings.PUBLIC_BASE_URL = "https://112.example.go.id"
    with pytest.raises(CommandError, match="refused"):
        simulate("--from", "081234567890", "--url", live_server.url)
    assert not Call.objects.exists()


@pytest.mark.parametrize("number", ["halo", "12", ""])
def test_bad_from_number_is_a_command_error(number):
    with pytest.raises(CommandError, match="--from"):
        simulate("--from", number, "--url", "http://127.0.0.1:9")


def test_without_an_auth_token_the_command_refuses_to_run(settings):
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(CommandError, match="TWILIO_AUTH_TOKEN"):
        simulate("--from", "081234567890", "--url", "http://127.0.0.1:9")


def test_unreachable_server_is_a_command_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed: the connection is refused.
    with pytest.raises(CommandError, match="Could not reach"):
        simulate("--from", "081234567890", "--url", f"http://127.0.0.1:{port}")


def test_a_caller_who_hangs_up_in_the_queue_becomes_a_missed_call(
    live_server, transactional_db, cilegon
):
    output = simulate("--from", "081234567890", "--url", live_server.url, "--hangup-after", "0")
    call = Call.objects.get()
    assert (call.queue_state, call.missed, call.queue_result) == ("ended", True, "hangup")
    assert "/calls/twilio/queue/" in output


def test_without_url_it_posts_to_the_server_make_run_started(settings, tmp_path, monkeypatch):
    settings.BASE_DIR = tmp_path
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "server-url").write_text("http://127.0.0.1:8400\n")
    posted = []
    monkeypatch.setattr(
        "calls.management.commands.simulate_call.signed_post",
        lambda url, path, params, token: posted.append(url) or FakeResponse(),
    )
    simulate("--from", "081234567890")
    assert posted == ["http://127.0.0.1:8400"]


class FakeResponse:
    status_code = 200
    text = "<Response/>"
