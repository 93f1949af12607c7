"""The supervisors' pages (issue 11): /reports/ and /wall/ for supervisors and admins; everyone
else is refused, the signed-out sent to sign in. The chart library they load is vendored with
its licence and version."""

import hashlib
from pathlib import Path

import pytest

from agencies.models import User
from tests.conftest import make_user

pytestmark = pytest.mark.usefixtures("cilegon")

CHARTJS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "chartjs"
ROLES = {
    User.Role.ADMIN: 200,
    User.Role.SUPERVISOR: 200,
    User.Role.OPERATOR: 403,
    User.Role.AGENCY_STAFF: 403,
}


@pytest.mark.parametrize("url", ["/reports/", "/wall/"])
@pytest.mark.parametrize(("role", "expected"), ROLES.items())
def test_only_supervisors_and_admins_open_the_pages(client, url, role, expected):
    user = make_user(f"u-{role}", role, "DPKP" if role == User.Role.AGENCY_STAFF else None)
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == expected
    if expected == 200:
        assert b"reports-config" in response.content
        assert b"<script>" not in response.content  # data only, no inline code (CSP)


@pytest.mark.parametrize("url", ["/reports/", "/wall/"])
def test_signed_out_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_top_bar_links_them_for_supervisors_only(client):
    client.force_login(make_user("sup", User.Role.SUPERVISOR))
    assert b'href="/reports/"' in client.get("/history/").content
    client.force_login(make_user("op", User.Role.OPERATOR))
    assert b'href="/reports/"' not in client.get("/history/").content


def test_chartjs_is_vendored_unmodified_with_its_licence_and_note():
    script = (CHARTJS / "chart.umd.min.js").read_bytes()
    note = (CHARTJS / "README.md").read_text()
    assert b"Chart.js v4.6.1" in script[:200]
    assert hashlib.sha256(script).hexdigest() in note
    source_map = (CHARTJS / "chart.umd.min.js.map").read_bytes()  # the script names it
    assert hashlib.sha256(source_map).hexdigest() in note
    assert "MIT" in (CHARTJS / "LICENSE.md").read_text()
    assert b"new Function" not in script and b"eval(" not in script
