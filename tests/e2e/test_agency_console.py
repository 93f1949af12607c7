"""The agency console seen as a new duty officer would (issue 11): a waiting assignment fills the
top of the screen, flashing, its wait ticking and its key shown; the alarm sounds without a
click where the browser allows it; A takes it without touching the mouse; finished work is
kept below with the counts per status."""

import re

from playwright.sync_api import expect

from agencies.models import Agency, Area, Category, User
from dispatch import incidents
from tests.dispatch.helpers import KELURAHAN
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import off_the_browser_thread


def dispatched_to_dpkp(description):
    incident = off_the_browser_thread(
        incidents.create_incident,
        actor=None,
        description=description,
        address="Jl. Sudirman 5",
        category=Category.objects.get(code="FIRE"),
        area=Area.objects.get(code=KELURAHAN),
    )
    [assignment] = off_the_browser_thread(
        incidents.dispatch, incident.pk, actor=None, agencies=[Agency.objects.get(code="DPKP")]
    )
    return incident, assignment


def test_waiting_work_fills_the_screen_and_one_key_takes_it(console, live):
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")
    incident, assignment = dispatched_to_dpkp("Gudang terbakar, asap tebal")

    strip = dpkp.locator("#waiting-work")
    expect(strip).to_be_visible()
    card = strip.locator(f'[data-reference="{incident.reference}"]')
    expect(card).to_contain_text("Gudang terbakar")
    expect(card.locator("kbd")).to_have_text("A")
    wait = card.locator(".tick.wait")
    expect(wait).to_have_text(re.compile(r"^0:0\d$"))
    first = wait.text_content()
    expect(wait).not_to_have_text(first, timeout=2500)  # ticking, every second
    # Heard without a click (the browser allows autoplay here), and counted.
    expect(dpkp.locator("body")).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    expect(dpkp.locator("#enable-sound")).to_be_hidden()
    expect(dpkp.locator('#status-counts [data-status="pending"] strong')).to_have_text("1")
    box = strip.bounding_box()
    assert box["width"] > 1000  # across the screen, not a narrow column
    dpkp.screenshot(path=SCREENSHOTS / "agency-console.png")

    dpkp.keyboard.press("a")
    expect(strip).to_be_hidden()
    expect(dpkp.locator("body")).to_have_attribute("data-alerting", "false")
    expect(dpkp.locator('#status-counts [data-status="acknowledged"] strong')).to_have_text("1")
    expect(dpkp.locator("#acknowledge")).to_be_hidden()  # done: no greyed "Terima A" left
    # Nothing waits any more: the waiting count loses its alarm colour.
    pending = dpkp.locator('#status-counts [data-status="pending"]')
    expect(pending).to_have_attribute("data-count", "0")
    expect(pending).to_have_css("background-color", "rgb(238, 238, 238)")

    dpkp.click('[data-progress="completed"]')
    expect(dpkp.locator(f'#queue [data-reference="{incident.reference}"]')).to_have_count(0)
    expect(dpkp.locator("#done-count")).to_have_text("1")
    dpkp.click("#done summary")
    finished = dpkp.locator(f'#done-list [data-reference="{incident.reference}"]')
    expect(finished).to_have_attribute("data-status", "completed")
    assert dpkp.errors == []


# Headless Chromium plays sound without a gesture whatever its flags; this models the desktop
# browsers' rule instead: audio stays suspended until the person clicks or types in the page.
AUDIO_NEEDS_A_GESTURE = """
let gesture = false;
for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, () => { gesture = true; }, { capture: true });
}
const Real = window.AudioContext;
window.AudioContext = class extends Real {
  constructor(...args) {
    super(...args);
    if (!gesture) this.suspend();
  }
  resume() {
    return gesture ? super.resume() : Promise.resolve();
  }
};
"""


def test_sound_that_the_browser_blocks_asks_for_a_click(console, live):
    """Where the browser keeps the alarm silent until a click, the console says so in words at
    the top, and one click starts it."""
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")
    dpkp.add_init_script(AUDIO_NEEDS_A_GESTURE)
    dpkp.reload()
    dpkp.wait_for_selector("body[data-online=true]")
    dispatched_to_dpkp("Kebakaran")
    expect(dpkp.locator("#waiting-work")).to_be_visible()
    hint = dpkp.locator("#enable-sound")
    expect(hint).to_be_visible()
    assert not dpkp.evaluate("document.body.dataset.beeps")
    hint.click()
    expect(dpkp.locator("body")).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    expect(hint).to_be_hidden()
