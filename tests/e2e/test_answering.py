"""The operator's workspace (issue 7): waiting callers picked up with one key, seen live on a
second operator's screen; missed calls on every screen until one operator calls back; a new call
dispatched in at most 10 keys; a fire typed in the category list goes out as P1; the layout at
1366×768 and 1920×1080."""

import re

from playwright.sync_api import expect

from agencies.models import User
from calls.models import Call
from dispatch.models import Incident
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import place_call, twilio_post

WIDE = {"width": 1920, "height": 1080}
# Whether the element's middle is its own on screen: in the viewport and under nothing else.
UNCOVERED = """element => {
  const box = element.getBoundingClientRect();
  return element.contains(document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2));
}"""


class KeyCounter:
    """page.keyboard, counting every key the operator presses (a chord such as Control+Enter
    is one key press)."""

    def __init__(self, page):
        self.page = page
        self.count = 0
        self.log = []

    def press(self, key):
        self.count += 1
        self.log.append(key)
        self.page.keyboard.press(key)

    def type(self, text):
        for char in text:
            self.press(char)


def waiting_item(page, call):
    return page.locator(f'#waiting-list [data-call-id="{call.id}"]')


def missed_item(page, call):
    return page.locator(f'#missed-list [data-call-id="{call.id}"]')


def abandon(base_url, sid, caller, queue_time="37"):
    twilio_post(
        base_url,
        "/calls/twilio/queue/",
        {
            "CallSid": sid,
            "From": caller,
            "To": "112",
            "QueueResult": "hangup",
            "QueueTime": queue_time,
        },
    )


def test_waiting_caller_is_picked_up_with_one_key_and_shown_live_to_the_others(console, live):
    operator1 = console("operator1", User.Role.OPERATOR)
    operator2 = console("operator2", User.Role.OPERATOR)

    place_call(live, "CAe2ewait1", "081234567890")
    call = Call.objects.get(sid="CAe2ewait1")
    for page in (operator1, operator2):
        expect(waiting_item(page, call)).to_have_attribute("data-queue-state", "waiting")
        expect(waiting_item(page, call)).to_contain_text("+6281234567890")
        # Seen: the count in the title and the panel, the oldest wait in large type; heard: beeps.
        expect(page).to_have_title(re.compile(r"^\(1\) 112"))
        expect(page.locator("#waiting-count")).to_have_text("1")
        expect(page.locator("#oldest-wait")).to_be_visible()
        expect(page.locator("body")).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    first = operator1.locator("#oldest-wait-time").text_content()
    # The wait keeps counting, every second.
    expect(operator1.locator("#oldest-wait-time")).not_to_have_text(first, timeout=2500)
    operator1.screenshot(path=SCREENSHOTS / "waiting-caller.png")

    keys = KeyCounter(operator1)
    keys.press("a")

    held = waiting_item(operator2, call)
    expect(held).to_have_attribute("data-queue-state", "connected")
    expect(held).to_contain_text("operator1")
    expect(operator2).not_to_have_title(re.compile(r"^\("))
    expect(operator1.locator("#detail-reference")).to_have_text(call.incident.reference)
    expect(operator1.locator("#detail-title")).to_be_focused()
    expect(waiting_item(operator1, call).locator("[data-release]")).to_be_visible()
    assert keys.count == 1
    call.refresh_from_db()
    assert call.picked_up_by.username == "operator1" and call.queue_state == "connected"
    operator2.screenshot(path=SCREENSHOTS / "caller-held-by-another-operator.png")

    # The timeline says it in words (the code stays in data-event).
    picked = operator1.locator('#timeline [data-event="call.updated"]').last
    expect(picked).to_contain_text("operator1")
    assert "call.updated" not in operator1.locator("#timeline").inner_text()

    # H ends the conversation (the demo's console backend has no softphone to hang up): the
    # call leaves the panel on both screens.
    operator1.locator("body").click(position={"x": 5, "y": 300})
    operator1.keyboard.press("h")
    for page in (operator1, operator2):
        expect(waiting_item(page, call)).to_have_count(0)
    call.refresh_from_db()
    assert call.queue_state == "ended" and not call.missed
    assert operator1.errors == [] and operator2.errors == []


def test_a_pick_up_lost_to_another_operator_says_so(console, live):
    operator1 = console("operator1", User.Role.OPERATOR)
    operator2 = console("operator2", User.Role.OPERATOR)
    # operator2's live feed stalls, so their screen still shows the caller waiting when they
    # press: the server's 409 decides.
    stalled = {"on": False}

    def route(socket):
        server = socket.connect_to_server()
        server.on_message(lambda message: None if stalled["on"] else socket.send(message))

    operator2.route_web_socket(re.compile(r"/ws/dashboard/"), route)
    operator2.reload()
    operator2.wait_for_selector("body[data-online=true]")
    place_call(live, "CAe2erace1", "081234567890")
    call = Call.objects.get(sid="CAe2erace1")
    expect(waiting_item(operator2, call)).to_have_attribute("data-queue-state", "waiting")
    stalled["on"] = True

    operator1.keyboard.press("a")
    expect(waiting_item(operator1, call)).to_have_attribute("data-queue-state", "connected")
    waiting_item(operator2, call).locator("[data-pick-up]").click()
    expect(operator2.locator("#waiting-message")).to_contain_text("Operator lain")
    expect(waiting_item(operator2, call)).to_have_attribute("data-queue-state", "connected")
    expect(waiting_item(operator2, call)).to_contain_text("operator1")
    call.refresh_from_db()
    assert call.picked_up_by.username == "operator1"


def test_missed_call_is_on_every_screen_until_one_operator_calls_back(console, live):
    operator1 = console("operator1", User.Role.OPERATOR)
    operator2 = console("operator2", User.Role.OPERATOR)

    place_call(live, "CAe2emiss1", "081298765432")
    call = Call.objects.get(sid="CAe2emiss1")
    expect(waiting_item(operator1, call)).to_be_visible()
    abandon(live, "CAe2emiss1", "081298765432")
    for page in (operator1, operator2):
        expect(missed_item(page, call)).to_contain_text("+6281298765432")
        expect(missed_item(page, call)).to_contain_text("0:37")
        expect(waiting_item(page, call)).to_have_count(0)
    operator1.screenshot(path=SCREENSHOTS / "missed-call.png")

    operator2.locator(f'[data-callback="{call.id}"]').click()
    for page in (operator1, operator2):
        expect(missed_item(page, call)).to_have_count(0)
    callback = Call.objects.get(callback_of=call)
    assert callback.direction == "outbound" and callback.picked_up_by.username == "operator2"
    call.refresh_from_db()
    assert call.missed is False and call.missed_settlement == "callback"

    # Another one, resolved with a reason in the inline form (no browser prompt).
    place_call(live, "CAe2emiss2", "081311112222")
    other = Call.objects.get(sid="CAe2emiss2")
    abandon(live, "CAe2emiss2", "081311112222", queue_time="5")
    expect(missed_item(operator2, other)).to_be_visible()
    operator1.locator(f'[data-resolve="{other.id}"]').click()
    expect(operator1.locator("#resolve-reason")).to_be_focused()
    operator1.keyboard.type("Nomor salah, sudah dikonfirmasi lewat SMS")
    operator1.keyboard.press("Enter")
    for page in (operator1, operator2):
        expect(missed_item(page, other)).to_have_count(0)
    other.refresh_from_db()
    assert other.missed_settlement == "resolved" and other.missed_reason.startswith("Nomor salah")
    assert operator1.errors == [] and operator2.errors == []


def test_a_new_call_is_dispatched_in_at_most_ten_keys(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2ekeys1", "081234567890")
    call = Call.objects.get(sid="CAe2ekeys1")
    incident = call.incident
    expect(waiting_item(operator, call)).to_be_visible()  # the call appears: counting starts
    place_call(live, "CAe2ekeys2", "081355556666")  # and another caller behind them
    second = Call.objects.get(sid="CAe2ekeys2")
    expect(waiting_item(operator, second)).to_be_visible()

    keys = KeyCounter(operator)
    keys.press("a")  # pick up (angkat)
    expect(operator.locator("#detail-title")).to_be_focused()
    keys.press("n")  # classify: normal → on to the category
    expect(operator.locator("#f-category")).to_be_focused()
    keys.type("keb")
    expect(operator.locator("#f-category + .combo-list .active")).to_contain_text("Kebakaran")
    keys.press("Enter")  # Kebakaran → on to the location
    expect(operator.locator("#f-area")).to_be_focused()
    expect(operator.locator("#f-priority")).to_have_value("1")
    keys.type("cit")
    expect(operator.locator("#f-area + .combo-list .active")).to_contain_text("Citangkil")
    operator.screenshot(path=SCREENSHOTS / "keyboard-location.png")
    # Who gets it is in sight beside the key that sends it, not under the panel's buttons.
    preview = operator.locator("#routing-preview")
    expect(preview).to_contain_text("DPKP")
    assert preview.evaluate(UNCOVERED), "the routing preview is hidden"
    keys.press("Control+Enter")  # takes the highlighted Citangkil and dispatches

    dispatched = operator.locator(f'#col-dispatched [data-reference="{incident.reference}"]')
    expect(dispatched).to_be_visible()
    assert keys.count <= 10, keys.log
    timeline = operator.locator("#timeline")
    expect(timeline).to_contain_text("Kejadian diteruskan ke DPKP")
    expect(timeline).to_contain_text("diangkat oleh operator1")
    operator.locator("#incident-panel").screenshot(path=SCREENSHOTS / "incident-panel.png")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.DISPATCHED
    assert incident.category.code == "FIRE" and incident.priority == 1
    assert incident.area.code == "36.72.08.1007"  # kelurahan Citangkil, in kecamatan Citangkil
    assert [a.agency.code for a in incident.assignments.all()] == ["DPKP"]
    call.refresh_from_db()
    assert call.classification == "normal"

    # Still on the call (one caller at a time): the console says how to end it, and a reflex
    # Enter does not hang up on the caller; H does, then the caller still waiting is one Enter
    # away.
    expect(operator.locator("#detail-title")).to_be_focused()
    expect(operator.locator("#waiting-message")).to_contain_text("H")
    operator.keyboard.press("Enter")
    expect(waiting_item(operator, call).locator("[data-end-call]")).to_be_visible()
    operator.keyboard.press("h")
    expect(waiting_item(operator, second).locator("[data-pick-up]")).to_be_focused()
    operator.keyboard.press("Enter")
    expect(operator.locator("#detail-reference")).to_have_text(second.incident.reference)
    assert operator.errors == []


def test_a_fire_typed_in_the_category_list_goes_out_as_p1(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2efire1", "081234567890")
    call = Call.objects.get(sid="CAe2efire1")
    waiting_item(operator, call).locator("[data-pick-up]").click()
    expect(operator.locator("#detail-reference")).to_have_text(call.incident.reference)
    operator.keyboard.press("n")
    category = operator.locator("#f-category")
    expect(category).to_be_focused()

    # "K" highlights Kriminalitas on the way: nothing is chosen until Enter.
    operator.keyboard.type("kri")
    expect(operator.locator("#f-category + .combo-list .active")).to_contain_text("Kriminalitas")
    expect(operator.locator("#f-priority")).to_have_value("")
    # Chosen by mistake (P2), then corrected: the priority follows the final category.
    operator.keyboard.press("Enter")
    expect(operator.locator("#f-priority")).to_have_value("2")
    expect(operator.locator("#f-area")).to_be_focused()
    operator.keyboard.press("Escape")  # closes the location list
    operator.keyboard.press("Escape")  # leaves the field
    operator.keyboard.press("c")
    expect(category).to_be_focused()
    operator.keyboard.type("keb")
    operator.keyboard.press("Enter")
    expect(category).to_have_value("Kebakaran")
    expect(operator.locator("#f-priority")).to_have_value("1")
    operator.keyboard.press("Control+Enter")

    reference = call.incident.reference
    expect(operator.locator(f'#col-dispatched [data-reference="{reference}"]')).to_be_visible()
    expect(operator.locator(f'#col-dispatched [data-reference="{reference}"] .prio')).to_have_text(
        "P1"
    )
    incident = Incident.objects.get(pk=call.incident_id)
    assert incident.category.code == "FIRE" and incident.priority == 1
    # Ctrl+Enter again: nothing more to dispatch, and the console says so where it is seen.
    operator.keyboard.press("Control+Enter")
    expect(operator.locator("#form-errors")).not_to_be_empty()
    expect(operator.locator("#form-errors")).to_be_in_viewport(ratio=1)
    assert operator.errors == []


def test_a_priority_set_by_hand_stays_when_the_category_changes(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2ehand1", "081234567890")
    call = Call.objects.get(sid="CAe2ehand1")
    waiting_item(operator, call).locator("[data-pick-up]").click()
    expect(operator.locator("#detail-title")).to_be_focused()
    operator.keyboard.press("n")
    operator.keyboard.type("keb")
    operator.keyboard.press("Enter")
    expect(operator.locator("#f-priority")).to_have_value("1")
    operator.select_option("#f-priority", "3")
    operator.locator("#f-category").focus()
    operator.keyboard.type("pohon")
    operator.keyboard.press("Enter")
    expect(operator.locator("#f-category")).to_have_value("Pohon tumbang")
    expect(operator.locator("#f-priority")).to_have_value("3")


def test_dispatch_asks_for_a_classification_and_a_rule_the_same_way_as_the_preview(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2eempty", "081234567890")
    call = Call.objects.get(sid="CAe2eempty")
    reference = call.incident.reference
    operator.locator(f'#col-new [data-reference="{reference}"]').click()
    preview = operator.locator("#routing-preview")
    expect(preview).to_contain_text("Klasifikasikan")
    operator.keyboard.press("Control+Enter")
    expect(operator.locator("#form-errors")).to_have_text(preview.text_content())
    expect(operator.locator("#form-errors")).to_be_in_viewport()  # not below the panel's fold

    operator.locator("#detail-title").focus()
    operator.keyboard.press("n")
    expect(preview).to_contain_text("kategori")
    operator.keyboard.type("lain")  # Lainnya / informasi: no agency
    operator.keyboard.press("Enter")
    expect(preview).to_contain_text("Tidak ada aturan")
    operator.keyboard.press("Control+Enter")
    expect(operator.locator("#form-errors")).to_have_text(preview.text_content())
    expect(operator.locator("#override")).to_have_attribute("open", "")
    assert Incident.objects.get(pk=call.incident_id).status == Incident.Status.NEW


def test_losing_the_live_connection_greys_out_the_console(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    sockets, server = [], {"up": True}

    def route(socket):
        if server["up"]:
            socket.connect_to_server()
            sockets.append(socket)
        else:
            socket.close()

    operator.route_web_socket(re.compile(r"/ws/dashboard/"), route)
    operator.reload()
    operator.wait_for_selector("body[data-online=true]")
    server["up"] = False
    sockets[-1].close()

    banner = operator.locator("#offline")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Terputus")
    expect(operator.locator("body")).to_have_attribute("data-online", "false")
    greyed = operator.evaluate("getComputedStyle(document.querySelector('main')).filter")
    assert "grayscale" in greyed
    operator.screenshot(path=SCREENSHOTS / "connection-lost.png")
    server["up"] = True
    expect(banner).to_be_hidden(timeout=30000)
    expect(operator.locator("body")).to_have_attribute("data-online", "true")


def test_a_socket_that_never_says_hello_is_replaced(console, live):
    """A server that accepted the socket while Redis was away says nothing: the console counts
    it as lost, reconnects by itself, and is live again (issue 8, defect 5)."""
    operator = console("operator1", User.Role.OPERATOR)
    opened = []

    def route(socket):
        opened.append(socket)
        if len(opened) > 1:
            socket.connect_to_server()  # the first one stays silent: accepted, no hello

    operator.route_web_socket(re.compile(r"/ws/dashboard/"), route)
    operator.reload()
    expect(operator.locator("body")).to_have_attribute("data-online", "true", timeout=15000)
    assert len(opened) >= 2
    assert operator.errors == []


def test_layout_at_1366_and_1920(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    for index in range(6):
        place_call(live, f"CAe2elay{index}", f"08123456789{index}")
    incident = Incident.objects.order_by("id").first()
    Call.objects.filter(sid="CAe2elay5").update(classification="prank")
    abandon(live, "CAe2elay4", "081234567894")
    expect(operator.locator("#col-new .incident")).to_have_count(6)
    operator.locator(f'#col-new [data-reference="{incident.reference}"]').click()

    for viewport, name in (({"width": 1366, "height": 768}, "1366"), (WIDE, "1920")):
        operator.set_viewport_size(viewport)
        overflowing = operator.evaluate(
            """() => [...document.querySelectorAll(
                       '.card-top .ref, .columns h3 > span:first-child')]
                   .filter((node) => node.scrollWidth > node.clientWidth + 1
                                  || node.getBoundingClientRect().height > 24)
                   .map((node) => node.textContent)"""
        )
        assert overflowing == [], (name, overflowing)
        nothing_hidden = operator.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth"
        )
        assert nothing_hidden, name
        operator.screenshot(path=SCREENSHOTS / f"command-centre-{name}.png")
    assert operator.errors == []


def test_the_key_help_closes_with_esc_or_a_click_elsewhere(console, live):
    """Open, the key help covers the waiting callers: it must not stay in the way."""
    operator = console("operator1", User.Role.OPERATOR)
    help_panel = operator.locator("details.keys")
    for close in (
        lambda: operator.keyboard.press("Escape"),
        lambda: operator.click("#board", position={"x": 650, "y": 15}),
    ):
        operator.click("details.keys summary")
        expect(help_panel).to_have_attribute("open", "")
        close()
        expect(help_panel).not_to_have_attribute("open", "")
    assert operator.errors == []


def test_softphone_not_configured_is_a_calm_note(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    softphone = operator.locator("#softphone")
    expect(softphone).to_have_attribute("data-status", "demo")
    expect(softphone).to_contain_text("Softphone belum dikonfigurasi")
    expect(operator.locator("#sp-alert")).to_be_hidden()


def test_a_configured_softphone_that_cannot_register_is_a_loud_warning(console, live, settings):
    # Settings that make a token, for a Twilio this sandbox cannot reach: the device never
    # registers, which is exactly what an operator must not miss.
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_API_KEY_SID = "SK" + "0" * 32
    settings.TWILIO_API_KEY_SECRET = "not-a-real-secret-" + "x" * 32
    settings.TWILIO_TWIML_APP_SID = "AP" + "0" * 32
    operator = console("operator1", User.Role.OPERATOR)
    alert = operator.locator("#sp-alert")
    expect(alert).to_be_visible(timeout=20000)
    expect(alert).to_contain_text("SOFTPHONE TIDAK TERSAMBUNG")
    expect(operator.locator("#softphone")).not_to_have_attribute("data-status", "registered")
    expect(operator.locator("body")).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    operator.screenshot(path=SCREENSHOTS / "softphone-not-registered.png")


def test_a_new_sms_is_heard_and_counted_until_opened(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    expect(operator).to_have_title(re.compile(r"^112 · "))
    twilio_post(
        live,
        "/calls/twilio/sms/",
        {"MessageSid": "SMe2enew1", "From": "081234567890", "To": "112", "Body": "Banjir"},
    )
    expect(operator).to_have_title(re.compile(r"^\(1\) 112 · "))
    expect(operator.locator("body")).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    incident = Incident.objects.get()
    operator.locator(f'#col-new [data-reference="{incident.reference}"]').click()
    expect(operator).to_have_title(re.compile(r"^112 · "))
