"""Issue 11 in Chromium: an operator closes an incident with a reason on the console, then finds
it in the history by the caller's number, with its reason and timeline, and reopens it."""

from playwright.sync_api import expect

from agencies.models import Agency, Area, Category, User
from calls.models import Call
from dispatch import incidents
from dispatch.models import Incident
from tests.dispatch.helpers import KELURAHAN
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import off_the_browser_thread, place_call

CALLER = "081234567890"


def earlier_ended_incidents():
    """A few ended incidents of other callers, so the list looks like a working day's."""
    fire, medical = Category.objects.get(code="FIRE"), Category.objects.get(code="MEDICAL")
    area = Area.objects.get(code=KELURAHAN)
    for category, phone, status, agency in [
        (fire, "+6281311112222", "resolved", "DPKP"),
        (medical, "+6285733334444", "closed", "PSC119"),
        (medical, "+6287755556666", "cancelled", None),
    ]:
        incident = incidents.create_incident(
            actor=None, category=category, area=area, caller_phone=phone, description="—"
        )
        if agency:
            incidents.dispatch(incident.pk, actor=None, agencies=[Agency.objects.get(code=agency)])
        Incident.objects.filter(pk=incident.pk).update(status=status)


def test_a_closed_incident_is_found_by_the_callers_number(console, live):
    off_the_browser_thread(earlier_ended_incidents)
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2ehistory1", CALLER)
    incident = Call.objects.get(sid="CAe2ehistory1").incident
    off_the_browser_thread(
        incidents.update_incident,
        incident.pk,
        actor=None,
        category=Category.objects.get(code="FIRE"),
        area=Area.objects.get(code=KELURAHAN),
        address="Jl. Sultan Ageng Tirtayasa 12",
        description="Asap dari gudang, ternyata pembakaran sampah",
    )

    # Close it on the console: the button asks why; 2 is "false alarm".
    operator.locator(f'#board [data-reference="{incident.reference}"]').click()
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)
    operator.click("#close-incident")
    dialog = operator.locator("#close-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Alarm palsu")
    operator.screenshot(path=SCREENSHOTS / "close-reason.png")
    operator.keyboard.press("2")
    expect(dialog).to_be_hidden()
    expect(operator.locator("#timeline")).to_contain_text("Kejadian ditutup: Alarm palsu")
    incident.refresh_from_db()
    assert (incident.status, incident.close_reason) == ("closed", "false_alarm")

    # Find it in the history by the number, typed the way people say it.
    operator.click('nav.pages a[href="/history/"]')
    operator.fill("input[name=q]", "0812-3456-7890")
    operator.press("input[name=q]", "Enter")
    rows = operator.locator("[data-testid=history-list] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(incident.reference)
    expect(rows.first).to_contain_text("Alarm palsu")
    expect(rows.first).to_contain_text("Ditutup")
    operator.click(f"[data-open='{incident.pk}']")
    timeline = operator.locator("#timeline")
    expect(timeline).to_contain_text("Panggilan dari +6281234567890")
    expect(timeline).to_contain_text("Kejadian ditutup: Alarm palsu")
    expect(operator.locator("#detail-reason")).to_have_text("Ditutup sebagai: Alarm palsu")
    operator.screenshot(path=SCREENSHOTS / "history.png")

    # Reopen: back on the board, recorded on the timeline.
    operator.click("#reopen")
    expect(timeline).to_contain_text("Kejadian dibuka kembali")
    expect(operator.locator("#reopen")).to_be_hidden()
    incident.refresh_from_db()
    assert (incident.status, incident.close_reason) == ("new", "")
    assert operator.errors == []
