"""Issue 10 on the command-centre console: the caller's handset position (AML) appears in the
incident panel and on the board as it arrives; an incident that may be the same emergency is
offered before dispatch and merged with two presses; a call moves to another incident; a merge
the server refuses says why."""

from decimal import Decimal

from playwright.sync_api import expect

from agencies.models import User
from calls import linking
from calls.models import Call
from dispatch.models import Incident
from tests.calls.test_aml import aml_body
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import off_the_browser_thread, place_call, twilio_post

CALLER = "081234567890"


def send_aml(base_url, sid, **fields):
    twilio_post(
        base_url,
        "/calls/twilio/sms/",
        {"MessageSid": sid, "From": CALLER, "To": "112", "Body": aml_body(**fields)},
    )


def card(page, incident):
    return page.locator(f'#board [data-reference="{incident.reference}"]')


def hint(page, incident):
    return page.locator(f'#similar-list [data-similar-id="{incident.id}"]')


def open_incident(page, incident):
    card(page, incident).click()
    expect(page.locator("#detail-reference")).to_have_text(incident.reference)


def test_the_handset_position_appears_live_in_the_panel_and_on_the_card(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2eaml1", CALLER)
    incident = Call.objects.get(sid="CAe2eaml1").incident
    # The caller reaches the console over the socket: "a" picks up once they are shown.
    expect(operator.locator("#waiting-list .caller.q-waiting")).to_have_count(1)
    operator.keyboard.press("a")
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)
    position = operator.locator("#detail-position")
    expect(position).to_be_hidden()

    send_aml(live, "SMe2eaml1", lt="-6.01234", lg="+106.05678", rd=50, pm="G")

    expect(position).to_be_visible()
    expect(position).to_contain_text("-6.01234, 106.05678")
    expect(position).to_contain_text("± 50 m")
    expect(position).to_contain_text("GNSS")
    expect(position).to_contain_text("WIB")
    expect(position).to_contain_text("Dipakai sebagai posisi kejadian")
    expect(card(operator, incident).locator(".tag.aml")).to_have_text("AML ± 50 m")
    expect(operator.locator("#timeline")).to_contain_text("Posisi diterima dari ponsel penelepon")
    # Seen without scrolling the panel at 1366×768.
    panel = operator.locator("#incident-panel")
    assert panel.evaluate("(node) => node.scrollTop") == 0
    assert position.bounding_box()["y"] + position.bounding_box()["height"] <= 768
    operator.screenshot(path=SCREENSHOTS / "aml-position.png")
    assert operator.errors == []


def test_an_operators_own_position_is_kept_and_the_handsets_shown_beside_it(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2eaml2", CALLER)
    incident = Call.objects.get(sid="CAe2eaml2").incident
    Incident.objects.filter(pk=incident.pk).update(
        latitude=Decimal("-6.02"), longitude=Decimal("106.03"), location_source="operator"
    )
    open_incident(operator, incident)

    send_aml(live, "SMe2eaml2", rd=1500, pm="C")

    position = operator.locator("#detail-position")
    expect(position).to_contain_text("± 1.5 km")
    expect(position).to_contain_text("Sel (BTS)")
    expect(position).to_contain_text("posisi dari Operator (-6.02000, 106.03000)")
    incident.refresh_from_db()
    assert incident.latitude == Decimal("-6.02") and incident.aml_accuracy_m == 1500


def test_a_second_call_from_the_same_number_is_offered_and_merged(console, live):
    operator1 = console("operator1", User.Role.OPERATOR)
    operator2 = console("operator2", User.Role.OPERATOR)
    place_call(live, "CAe2edup1", CALLER)
    original = Call.objects.get(sid="CAe2edup1").incident
    open_incident(operator1, original)
    expect(operator1.locator("#similar")).to_be_hidden()
    place_call(live, "CAe2edup2", CALLER)
    duplicate = Call.objects.get(sid="CAe2edup2").incident
    # The second report appears as a hint on the first one's panel as it comes in.
    expect(hint(operator1, duplicate)).to_contain_text(duplicate.reference)

    open_incident(operator2, duplicate)
    open_incident(operator1, duplicate)
    offered = hint(operator1, original)
    expect(offered).to_contain_text(original.reference)
    expect(offered).to_contain_text("penelepon sama")
    expect(offered).to_contain_text("Baru")
    expect(operator1.locator("#similar-title")).to_contain_text("Mungkin kejadian yang sama")
    # Above the form: seen before anybody dispatches.
    warning = operator1.locator("#similar").bounding_box()
    assert warning["y"] + warning["height"] < operator1.locator("#dispatch").bounding_box()["y"]
    operator1.screenshot(path=SCREENSHOTS / "duplicates.png")

    # D goes to the merge button; Enter asks which way, naming both; Enter again merges.
    operator1.locator("#detail-title").focus()
    operator1.keyboard.press("d")
    expect(offered.locator("[data-merge]")).to_be_focused()
    operator1.keyboard.press("Enter")
    operator1.keyboard.press("Escape")  # not this one after all: back to the button
    expect(offered.locator(".confirm")).to_have_count(0)
    expect(offered.locator("[data-merge]")).to_be_focused()
    operator1.keyboard.press("Enter")
    expect(offered.locator(".confirm")).to_contain_text(
        f"Gabungkan {duplicate.reference} ke {original.reference}?"
    )
    expect(offered.locator("[data-confirm]")).to_be_focused()
    operator1.screenshot(path=SCREENSHOTS / "duplicates-confirm.png")
    operator1.keyboard.press("Enter")

    expect(operator1.locator("#detail-reference")).to_have_text(original.reference)
    for page in (operator1, operator2):
        expect(card(page, duplicate)).to_have_count(0)
        expect(card(page, original)).to_be_visible()
    expect(operator1.locator("#timeline")).to_contain_text("Kejadian duplikat digabungkan")
    duplicate.refresh_from_db()
    assert duplicate.status == Incident.Status.CLOSED and duplicate.merged_into_id == original.pk
    assert set(original.calls.values_list("sid", flat=True)) == {"CAe2edup1", "CAe2edup2"}

    # The other operator, who had the duplicate open, is told where it went.
    merged = operator2.locator("#merged-into")
    expect(merged).to_contain_text(f"Digabungkan ke {original.reference}")
    merged.locator("button").click()
    expect(operator2.locator("#detail-reference")).to_have_text(original.reference)
    assert operator1.errors == [] and operator2.errors == []


def test_the_latest_call_is_linked_to_another_incident(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    for sid in ("CAe2elnk1", "CAe2elnk2", "CAe2elnk3"):
        place_call(live, sid, CALLER)
    one, two, three = (Call.objects.get(sid=s) for s in ("CAe2elnk1", "CAe2elnk2", "CAe2elnk3"))
    target = three.incident
    off_the_browser_thread(linking.merge, two.incident_id, one.incident_id, actor=None)
    kept = Incident.objects.get(pk=one.incident_id)

    open_incident(operator, kept)
    offered = hint(operator, target)
    # Two calls here: moving the latest one is not the same as a merge, so it is offered too.
    offered.locator("[data-link]").click()
    expect(offered.locator(".confirm")).to_contain_text(f"{kept.reference} tetap terbuka")
    offered.locator("[data-confirm]").click()

    expect(operator.locator("#detail-reference")).to_have_text(target.reference)
    two.refresh_from_db()
    kept.refresh_from_db()
    assert two.incident_id == target.pk
    assert kept.status == Incident.Status.NEW and list(kept.calls.all()) == [one]
    assert operator.errors == []


def test_a_merge_the_server_refuses_says_why(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2eref1", CALLER)
    place_call(live, "CAe2eref2", CALLER)
    original = Call.objects.get(sid="CAe2eref1").incident
    duplicate = Call.objects.get(sid="CAe2eref2").incident
    open_incident(operator, duplicate)
    offered = hint(operator, original)
    expect(offered).to_be_visible()
    # Closed behind the console's back (no event): the server decides.
    Incident.objects.filter(pk=original.pk).update(status=Incident.Status.CLOSED)

    offered.locator("[data-merge]").click()
    offered.locator("[data-confirm]").click()

    expect(operator.locator("#similar-message")).to_contain_text("Tidak digabungkan")
    expect(operator.locator("#similar-message")).to_contain_text(original.reference)
    expect(offered).to_have_count(0)  # the hints are fetched again
    expect(operator.locator("#detail-reference")).to_have_text(duplicate.reference)
    assert Incident.objects.get(pk=duplicate.pk).status == Incident.Status.NEW
    assert operator.errors == []
