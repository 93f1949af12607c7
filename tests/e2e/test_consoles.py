"""A 112 call carried from ringing to acknowledged across two live consoles, and hostile input
that must stay inert."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import time_machine
from django.db import connection
from playwright.sync_api import expect

from agencies.models import Agency, EscalationPolicy, User
from dispatch import escalation, incidents, notifications
from dispatch.models import Assignment, Incident, Notification
from tests.conftest import sign
from tests.e2e.conftest import SCREENSHOTS

XSS_NAME = '<img src=x onerror="window.__pwned=1">'
XSS_TEXT = "<script>window.__pwned=1</script> Api di dapur"


def off_the_browser_thread(function, *args, **kwargs):
    """Run domain code the way a worker would. Playwright keeps an event loop in the test
    thread, where the after-commit publish (async_to_sync) cannot run."""

    def run_and_hand_back_the_connection():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run_and_hand_back_the_connection).result()


def twilio_post(base_url, path, params):
    url = base_url + path
    response = httpx.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})
    response.raise_for_status()
    return response


def place_call(base_url, sid, caller="081234567890"):
    return twilio_post(
        base_url, "/calls/twilio/voice/", {"CallSid": sid, "From": caller, "To": "112"}
    )


def choose(page, selector, text):
    """Type into a type-ahead field and take the first match."""
    page.fill(selector, text)
    page.locator(selector).press("Enter")


def test_call_is_dispatched_and_acknowledged_live(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")

    place_call(live, "CAe2e0001")
    incident = Incident.objects.get()
    card = operator.locator(f'#col-new [data-reference="{incident.reference}"]')
    expect(card).to_be_visible()
    expect(operator.locator("#call-list")).to_contain_text("+6281234567890")

    operator.keyboard.press("a")  # the operator picks the caller up
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)
    operator.check("input[name=classification][value=normal]")
    choose(operator, "#f-category", "Kebakaran")
    choose(operator, "#f-area", "Citangkil")
    operator.fill("#f-address", "Jl. Raya Anyer No. 10")
    operator.fill("#f-description", "Rumah terbakar, dua orang di dalam")
    operator.fill("#f-caller-name", "Budi")
    expect(operator.locator("#routing-preview")).to_have_text("DPKP")
    operator.click("#dispatch")

    expect(
        operator.locator(f'#col-dispatched [data-reference="{incident.reference}"]')
    ).to_be_visible()
    queued = dpkp.locator(f'#queue [data-reference="{incident.reference}"]')
    expect(queued).to_have_attribute("data-status", "pending")
    expect(dpkp.locator("body")).to_have_attribute("data-alerting", "true")
    dpkp.wait_for_function("Number(document.body.dataset.beeps || 0) > 0")

    queued.click()
    expect(dpkp.locator("#a-description")).to_have_text("Rumah terbakar, dua orang di dalam")
    dpkp.click("#acknowledge")
    expect(queued).to_have_attribute("data-status", "acknowledged")
    expect(dpkp.locator("body")).to_have_attribute("data-alerting", "false")

    acknowledged = operator.locator('#assignment-list [data-agency="DPKP"]')
    expect(acknowledged).to_have_attribute("data-status", "acknowledged")
    expect(
        operator.locator(f'#col-in_progress [data-reference="{incident.reference}"]')
    ).to_be_visible()
    operator.screenshot(path=SCREENSHOTS / "command-centre.png")

    for step in ("en_route", "on_scene", "completed"):
        dpkp.click(f'[data-progress="{step}"]')
        expect(acknowledged).to_have_attribute("data-status", step)
    expect(
        operator.locator(f'#col-resolved [data-reference="{incident.reference}"]')
    ).to_be_visible()
    assert Assignment.objects.get().acknowledged_by.username == "dpkp"
    assert operator.errors == [] and dpkp.errors == []


def test_the_escalations_panel_opens_with_what_was_taken_back_and_still_waits(console, live):
    """Opened after the fact, the panel lists an assignment a reroute took back while its
    incident still waits for a new dispatch, and not one whose incident has since ended."""
    policy = EscalationPolicy.objects.create(
        name="e2e reroute", steps=[{"after_seconds": 1, "action": "reroute"}]
    )
    Agency.objects.filter(code="DPKP").update(escalation_policy=policy, backup_agency=None)
    taken_back = {}
    for description in ("Gudang terbakar", "Kebakaran lahan"):
        incident = off_the_browser_thread(
            incidents.create_incident, actor=None, description=description
        )
        [assignment] = off_the_browser_thread(
            incidents.dispatch, incident.pk, actor=None, agencies=[Agency.objects.get(code="DPKP")]
        )
        taken_back[description] = assignment
    with time_machine.travel(assignment.created_at + timedelta(seconds=2)):
        assert off_the_browser_thread(escalation.run_due) == 2
    ended = taken_back["Kebakaran lahan"]
    Incident.objects.filter(pk=ended.incident_id).update(status=Incident.Status.CLOSED)

    supervisor = console("supervisor", User.Role.SUPERVISOR)

    waiting = taken_back["Gudang terbakar"]
    expect(
        supervisor.locator(f'#escalation-list [data-assignment-id="{waiting.id}"]')
    ).to_be_visible()
    expect(supervisor.locator(f'#escalation-list [data-assignment-id="{ended.id}"]')).to_have_count(
        0
    )
    assert supervisor.errors == []


def test_hostile_input_is_shown_as_text_and_never_runs(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")
    dialogs = []
    for page in (operator, dpkp):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    twilio_post(
        live,
        "/calls/twilio/sms/",
        {"MessageSid": "SMe2exss", "From": "081234567890", "To": "112", "Body": XSS_TEXT},
    )
    incident = Incident.objects.get()
    operator.locator(f'[data-reference="{incident.reference}"]').first.click()
    expect(operator.locator("#call-list")).to_contain_text(XSS_TEXT)
    operator.fill("#f-caller-phone", "bukan nomor")
    operator.click("#save")
    expect(operator.locator("#form-errors")).to_contain_text("Telepon pelapor")
    operator.fill("#f-caller-phone", "")
    operator.fill("#f-caller-name", XSS_NAME)
    operator.fill("#f-description", XSS_TEXT)
    operator.check("input[name=classification][value=normal]")
    choose(operator, "#f-category", "Kebakaran")
    operator.click("#dispatch")

    queued = dpkp.locator(f'#queue [data-reference="{incident.reference}"]')
    queued.click()
    expect(dpkp.locator("#a-description")).to_have_text(XSS_TEXT)
    expect(dpkp.locator("#a-caller")).to_contain_text(XSS_NAME)
    expect(operator.locator('#timeline [data-event="assignment.created"]')).to_contain_text("DPKP")

    for page in (operator, dpkp):
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#call-list img, #queue img, #assignment-panel img").count() == 0
        assert page.errors == []
    assert dialogs == []


def test_supervisor_sees_an_unacknowledged_assignment_escalate_live(console, live):
    policy = EscalationPolicy.objects.create(
        name="e2e",
        steps=[
            {"after_seconds": 1, "action": "notify_agency"},
            {"after_seconds": 2, "action": "sms_agency"},
            {"after_seconds": 600, "action": "call_agency"},
        ],
    )
    Agency.objects.filter(code="DPKP").update(escalation_policy=policy)
    supervisor = console("supervisor", User.Role.SUPERVISOR)
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")

    incident = off_the_browser_thread(
        incidents.create_incident, actor=None, description="Gudang terbakar"
    )
    [assignment] = off_the_browser_thread(
        incidents.dispatch, incident.pk, actor=None, agencies=[Agency.objects.get(code="DPKP")]
    )
    with time_machine.travel(assignment.created_at + timedelta(seconds=3)):
        assert off_the_browser_thread(escalation.run_due) == 2
    sms = Notification.objects.get(channel="sms")
    off_the_browser_thread(notifications.deliver, sms.id)

    entry = supervisor.locator(f'#escalation-list [data-assignment-id="{assignment.id}"]')
    expect(entry).to_have_attribute("data-level", "2")
    expect(entry.locator('[data-action="sms_agency"]')).to_be_visible()
    expect(entry.locator('[data-channel="sms"]')).to_have_attribute("data-status", "sent")
    # The countdown to the next step (the duty officer's call, 600 s after the dispatch).
    countdown = entry.locator('.next-step[data-action="call_agency"] .countdown')
    expect(countdown).to_have_text(re.compile(r"^9:5\d$"))
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first, timeout=2500)
    queued = dpkp.locator(f'#queue [data-reference="{incident.reference}"]')
    expect(queued.locator(".escalated")).to_be_visible()
    supervisor.screenshot(path=SCREENSHOTS / "escalations.png")

    queued.click()
    dpkp.click("#acknowledge")
    expect(entry).to_have_count(0)
