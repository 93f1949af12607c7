"""The supervisor's screens (issue 11): the reports page shows today's figures against the
standards' goals with its charts, and the wall display follows the command centre live."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from agencies.models import User
from calls.models import Call
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_consoles import place_call


def calls_of_today():
    """Three voice calls: picked up after 5 s and 12 s, one abandoned after 40 s — two of three
    within 15 s. Written as the webhooks and the pick-up leave them."""
    now = timezone.now() - timedelta(minutes=5)
    for n, (wait, abandoned) in enumerate([(5, False), (12, False), (40, True)]):
        Call.objects.create(
            sid=f"CAreport{n}",
            from_number="+6281234567890",
            started_at=now,
            picked_up_at=None if abandoned else now + timedelta(seconds=wait),
            wait_seconds=wait,
            abandoned=abandoned,
            missed=abandoned,
            queue_state=Call.QueueState.ENDED,
            status="completed",
        )


def test_the_reports_page_shows_today_against_the_goals(console, live):
    calls_of_today()
    supervisor = console("supervisor", User.Role.SUPERVISOR)
    supervisor.goto(f"{live}/reports/")
    tile = supervisor.locator("#tile-15s")
    expect(tile.locator(".value")).to_have_text(re.compile(r"^66[,.]7 %$"))
    expect(tile).to_have_class(re.compile("missed"))  # below NENA's 90 %
    expect(supervisor.locator("#tile-calls .value")).to_have_text("3")
    expect(supervisor.locator('#agency-rows [data-agency="DPKP"]')).to_be_visible()
    assert supervisor.locator("#chart-hours").evaluate("canvas => canvas.width") > 0
    assert "format=csv" in supervisor.locator("#csv").get_attribute("href")
    supervisor.screenshot(path=SCREENSHOTS / "reports.png")
    assert supervisor.errors == []


def test_the_wall_display_follows_the_centre_live(console, live):
    calls_of_today()
    supervisor = console("supervisor", User.Role.SUPERVISOR)
    supervisor.goto(f"{live}/wall/")
    supervisor.wait_for_selector("body[data-online=true]")
    waiting = supervisor.locator("#w-waiting .value")
    expect(waiting).to_have_text("0")
    expect(supervisor.locator("#w-share .value")).to_have_text("67 %")
    place_call(live, "CAwall1")
    expect(waiting).to_have_text("1")
    expect(supervisor.locator("#w-waiting")).to_have_class(re.compile("alarm"))
    expect(supervisor.locator("#w-open .value")).to_have_text("1")
    supervisor.screenshot(path=SCREENSHOTS / "wall.png")
    assert supervisor.errors == []
