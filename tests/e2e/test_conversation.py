"""The SMS conversation in the command-centre console (issue 10): a text arrives and is heard, the
operator replies with a quick Indonesian question from the keyboard, and the caller's answer
appears live in the same conversation — markup in a text stays text."""

import re

from playwright.sync_api import expect

from agencies.models import User
from calls.models import Message
from dispatch.models import Incident
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import twilio_post

CALLER = "081234567890"


def text_in(base_url, sid, body):
    params = {"MessageSid": sid, "From": CALLER, "To": "112", "Body": body}
    twilio_post(base_url, "/calls/twilio/sms/", params)


def test_an_sms_conversation_runs_live_in_the_incident_panel(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    text_in(live, "SMe2e-1", "Kebakaran di gudang Jl. Raya Anyer <img src=x onerror=alert(1)>")
    incident = Incident.objects.get()
    card = operator.locator(f'#col-new [data-reference="{incident.reference}"]')
    expect(card.locator(".tag.new-text")).to_be_visible()
    expect(operator).to_have_title(re.compile(r"^\(1\) 112 · "))

    card.click()
    texts = operator.locator("#conversation-list li")
    expect(texts).to_have_count(1)
    expect(texts.first).to_contain_text("<img src=x onerror=alert(1)>")
    expect(operator.locator("#conversation-list img")).to_have_count(0)
    expect(operator).to_have_title(re.compile(r"^112 · "))

    # R opens the reply; a quick question fills it; Enter sends.
    operator.locator("#detail-title").focus()
    operator.keyboard.press("r")
    expect(operator.locator("#reply-body")).to_be_focused()
    operator.get_by_role("button", name="Lokasi?").click()
    expect(operator.locator("#reply-body")).to_have_value(re.compile("Mohon kirim lokasi Anda"))
    operator.locator("#reply-body").press("Enter")
    expect(texts).to_have_count(2)
    expect(texts.nth(1)).to_have_attribute("data-direction", "out")
    expect(texts.nth(1)).to_contain_text("Simulasi")
    expect(operator.locator("#reply-body")).to_have_value("")
    sent = Message.objects.get(direction="out")
    assert (sent.number, sent.author.username) == ("+6281234567890", "operator1")

    # The caller answers: the same conversation, live, on a screen that never reloads.
    text_in(live, "SMe2e-2", "Jl. Raya Anyer No. 12, RT 03/RW 02, dekat masjid")
    expect(texts).to_have_count(3)
    expect(texts.nth(2)).to_have_attribute("data-direction", "in")
    expect(texts.nth(2)).to_contain_text("dekat masjid")
    assert Incident.objects.count() == 1
    expect(operator.locator("#timeline")).to_contain_text("SMS dari penelepon")
    operator.screenshot(path=SCREENSHOTS / "sms-conversation.png")
    assert operator.errors == []
