"""Issue 11 item 3 on the command-centre console: the map shows kecamatan and kelurahan as
labelled points and each open incident where it is, drawn by where that position came from; a
click on the map places the selected incident (the operator's position from then on). No tile
server here (MAP_TILE_URL is empty in every test): the map must be useful without one."""

import re
import time

from playwright.sync_api import expect

from agencies import cilegon
from agencies.models import Agency, Area, Category, User
from calls.models import Call
from dispatch import incidents
from dispatch.models import Incident
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import off_the_browser_thread, place_call
from tests.e2e.test_duplicates import CALLER, send_aml


def pin(page, map_id, incident):
    return page.locator(f'#{map_id} .incident-pin[data-reference="{incident.reference}"]')


def classes(*names):
    """Matches a class attribute that has each of the names (Leaflet adds its own)."""
    return re.compile("".join(rf"(?=.*(^|\s){re.escape(name)}(\s|$))" for name in names))


def centre(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def other_incidents():
    """One placed by an operator and one known only by its kelurahan, to be seen beside it."""
    fire = Category.objects.get(code="FIRE")
    tree = Category.objects.get(code="TREE")
    placed = incidents.create_incident(
        actor=None,
        category=fire,
        area=Area.objects.get(code="36.72.03.1004"),
        latitude="-5.905000",
        longitude="106.028000",
    )
    approximate = incidents.create_incident(
        actor=None, category=tree, area=Area.objects.get(code="36.72.04.1002")
    )
    return placed, approximate


def test_the_map_shows_an_incident_at_its_aml_position(console, live):
    placed, approximate = off_the_browser_thread(other_incidents)
    operator = console("operator1", User.Role.OPERATOR)
    expect(operator.locator("#overview-map .area-name.kecamatan")).to_have_count(8)
    expect(operator.locator("#overview-map .area-point.kelurahan")).to_have_count(43)
    place_call(live, "CAe2emap1", CALLER)
    incident = Call.objects.get(sid="CAe2emap1").incident
    # The caller reaches the console over the socket: "a" picks up once they are shown.
    expect(operator.locator("#waiting-list .caller.q-waiting")).to_have_count(1)
    operator.keyboard.press("a")
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)

    send_aml(live, "SMe2emap1", lt="-6.01234", lg="+106.05678", rd=150, pm="G")

    for map_id in ("overview-map", "panel-map"):
        handset = pin(operator, map_id, incident)
        expect(handset).to_have_class(classes("src-aml", "p-none", "selected"))
        expect(handset).to_have_attribute("data-position", "-6.01234,106.05678")
        # The accuracy circle is drawn around the same point.
        circle = operator.locator(f"#{map_id} path.accuracy")
        expect(circle).to_have_count(1)
        (x, y), (cx, cy) = centre(handset.bounding_box()), centre(circle.bounding_box())
        assert abs(x - cx) <= 2 and abs(y - cy) <= 2, (map_id, (x, y), (cx, cy))
    overview = operator.locator("#overview-map")
    expect(pin(operator, "overview-map", placed)).to_have_class(classes("src-operator", "p-1"))
    suralaya = cilegon.CENTROIDS["36.72.03.1004"]
    assert suralaya != (-5.905, 106.028)
    # Known only by its kelurahan (Tegal Ratu): drawn at the kelurahan's centre, dashed.
    ring = pin(operator, "overview-map", approximate)
    expect(ring).to_have_attribute(
        "data-position", ",".join(str(c) for c in cilegon.CENTROIDS["36.72.04.1002"])
    )
    expect(ring).to_have_class(classes("src-area", "p-2"))
    expect(operator.locator("#panel-map-status")).to_contain_text("± 150 m")
    # A pin on the overview selects its incident.
    ring.click()
    expect(operator.locator("#detail-reference")).to_have_text(approximate.reference)
    expect(operator.locator("#panel-map-status")).to_contain_text("Tegal Ratu")
    pin(operator, "overview-map", incident).click()
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)
    expect(overview).to_be_visible()
    operator.screenshot(path=SCREENSHOTS / "map.png")
    # No name covers another: the crowded ones are left out, and zooming in brings them back.
    assert_no_name_covers_another(operator)
    crowded = operator.locator("#overview-map .area-name.kecamatan.crowded")
    left_out = crowded.count()
    assert left_out > 0  # Cilegon's eight kecamatan do not fit side by side at this size
    operator.locator("#overview-map .leaflet-control-zoom-in").click()
    operator.locator("#overview-map .leaflet-control-zoom-in").click()
    expect(crowded).not_to_have_count(left_out)
    assert_no_name_covers_another(operator)
    assert operator.errors == []


SHOWN_NAMES = """() => [...document.querySelectorAll('#overview-map .leaflet-tooltip')]
    .filter((label) => getComputedStyle(label).visibility !== 'hidden')
    .map((label) => label.getBoundingClientRect())
    .filter((box) => box.width > 0)
    .map((box) => [box.left, box.top, box.right, box.bottom])"""


def overlapping(boxes):
    return [
        (a, b)
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]


def assert_no_name_covers_another(page, seconds=5):
    """Once the map has settled (a selection redraws it on the next frame): no two of the
    overview's shown names overlap."""
    deadline = time.monotonic() + seconds
    while overlapping(boxes := page.evaluate(SHOWN_NAMES)) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert not overlapping(boxes), boxes


def test_a_click_on_the_map_places_the_incident_as_the_operators(console, live):
    operator = console("operator1", User.Role.OPERATOR)
    place_call(live, "CAe2emap2", CALLER)
    incident = Call.objects.get(sid="CAe2emap2").incident
    # The caller reaches the console over the socket: "a" picks up once they are shown.
    expect(operator.locator("#waiting-list .caller.q-waiting")).to_have_count(1)
    operator.keyboard.press("a")
    expect(operator.locator("#detail-reference")).to_have_text(incident.reference)
    status = operator.locator("#panel-map-status")
    expect(status).to_contain_text("Belum ada posisi")
    expect(operator.locator("#panel-map .incident-pin")).to_have_count(0)

    # The overview only selects: a click beside a pin does not move anything.
    operator.locator("#overview-map").click(position={"x": 20, "y": 120})
    expect(status).to_contain_text("Belum ada posisi")
    # With no position the panel's map shows the whole city: its middle is the city's.
    operator.locator("#panel-map").click()

    expect(pin(operator, "panel-map", incident)).to_be_visible()
    expect(pin(operator, "overview-map", incident)).to_have_class(
        classes("src-operator", "p-none", "selected")
    )
    expect(status).to_contain_text("operator")
    incident = Incident.objects.get(pk=incident.pk)
    assert incident.location_source == "operator"
    latitudes = [lat for lat, _ in cilegon.CENTROIDS.values()]
    longitudes = [lng for _, lng in cilegon.CENTROIDS.values()]
    assert abs(float(incident.latitude) - (min(latitudes) + max(latitudes)) / 2) < 0.005
    assert abs(float(incident.longitude) - (min(longitudes) + max(longitudes)) / 2) < 0.005
    assert operator.errors == []


def test_the_agency_console_shows_its_incident_on_the_map(console, live):
    dpkp = console("dpkp", User.Role.AGENCY_STAFF, "DPKP")
    incident = off_the_browser_thread(
        incidents.create_incident,
        actor=None,
        category=Category.objects.get(code="FIRE"),
        area=Area.objects.get(code="36.72.08.1007"),
        latitude="-6.016000",
        longitude="106.034000",
    )
    off_the_browser_thread(
        incidents.dispatch, incident.pk, actor=None, agencies=[Agency.objects.get(code="DPKP")]
    )
    dpkp.locator(f'#queue [data-reference="{incident.reference}"]').click()

    where = pin(dpkp, "a-map", incident)
    expect(where).to_have_class(classes("src-operator", "p-1", "selected"))
    expect(where).to_have_attribute("data-position", "-6.016,106.034")
    expect(dpkp.locator("#a-map .area-name.kelurahan", has_text="Citangkil")).to_be_visible()
    dpkp.screenshot(path=SCREENSHOTS / "agency-map.png")
    assert dpkp.errors == []
