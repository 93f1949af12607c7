"""Who may open and change each page of the configuration desk (/config/): every role on every
page and every form, GET and POST (agencies.rights decides; the pages only ask)."""

import pytest
from django.test import Client

from agencies import rights
from agencies.models import Agency, ConfigArea, EscalationPolicy, RoutingRule, User
from tests.conftest import make_user

LOGIN = "/accounts/login/"
ROLES = ["admin", "supervisor", "operator", "agency_staff"]


def url_of(page):
    """The URL of each desk page, on the seeded data."""
    rule = RoutingRule.objects.order_by("id").first()
    policy = EscalationPolicy.objects.first()
    person = User.objects.get(username="someone")
    return {
        "routing": "/config/routing/",
        "routing-new": "/config/routing/new/",
        "routing-rule": f"/config/routing/{rule.pk}/",
        "routing-delete": f"/config/routing/{rule.pk}/delete/",
        "policies": "/config/policies/",
        "policy-new": "/config/policies/new/",
        "policy": f"/config/policies/{policy.pk}/",
        "agencies": "/config/agencies/",
        "agency": "/config/agencies/DPKP/",
        "users": "/config/users/",
        "user-new": "/config/users/new/",
        "user": f"/config/users/{person.pk}/",
        "user-password": f"/config/users/{person.pk}/password/",
    }[page]


# (page, area, right a GET needs); a POST always needs CHANGE.
PAGES = [
    ("routing", ConfigArea.ROUTING, rights.VIEW),
    ("routing-new", ConfigArea.ROUTING, rights.CHANGE),
    ("routing-rule", ConfigArea.ROUTING, rights.CHANGE),
    ("routing-delete", ConfigArea.ROUTING, rights.CHANGE),
    ("policies", ConfigArea.POLICIES, rights.VIEW),
    ("policy-new", ConfigArea.POLICIES, rights.CHANGE),
    ("policy", ConfigArea.POLICIES, rights.CHANGE),
    ("agencies", ConfigArea.AGENCIES, rights.VIEW),
    ("agency", ConfigArea.AGENCIES, rights.CHANGE),
    ("users", ConfigArea.USERS, rights.VIEW),
    ("user-new", ConfigArea.USERS, rights.CHANGE),
    ("user", ConfigArea.USERS, rights.CHANGE),
    ("user-password", ConfigArea.USERS, rights.CHANGE),
]
# The table the pages must follow (agencies.rights.RIGHTS), spelled out for the test.
EXPECTED = {
    "admin": {area: {rights.VIEW, rights.CHANGE} for area in ConfigArea},
    "supervisor": {
        ConfigArea.ROUTING: {rights.VIEW, rights.CHANGE},
        ConfigArea.POLICIES: {rights.VIEW, rights.CHANGE},
        ConfigArea.AGENCIES: {rights.VIEW, rights.CHANGE},
        ConfigArea.USERS: {rights.VIEW},
    },
    "operator": {},
    "agency_staff": {},
}


@pytest.fixture
def seeded(cilegon):
    make_user("someone", User.Role.OPERATOR)


def client_as(role):
    if role is None:
        return Client()
    agency = "DPKP" if role == "agency_staff" else None
    client = Client()
    client.force_login(make_user(f"user_{role}", role, agency))
    return client


def test_the_table_is_the_one_the_pages_follow():
    for role, areas in EXPECTED.items():
        for area in ConfigArea:
            for right in (rights.VIEW, rights.CHANGE):
                user = User(role=role, is_active=True)
                assert rights.may(user, right, area) == (right in areas.get(area, set())), (
                    role,
                    area,
                    right,
                )


def test_a_superuser_is_an_admin_whatever_the_role_field_says():
    user = User(role=User.Role.OPERATOR, is_superuser=True, is_active=True)
    assert rights.may(user, rights.CHANGE, ConfigArea.USERS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("page", "area", "needs"), PAGES)
def test_get_follows_the_rights(seeded, role, page, area, needs):
    answer = client_as(role).get(url_of(page))
    allowed = needs in EXPECTED[role].get(area, set())
    if page == "routing-delete":
        # A deletion is a POST only: the allowed get "method not allowed".
        assert answer.status_code == (405 if allowed else 403)
    else:
        assert answer.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("page", "area", "needs"), PAGES)
def test_post_needs_the_change_right(seeded, role, page, area, needs):
    # An empty form: the allowed get the form back (200) or their deletion done (302).
    answer = client_as(role).post(url_of(page), {})
    allowed = rights.CHANGE in EXPECTED[role].get(area, set())
    if not allowed:
        assert answer.status_code == 403
    else:
        assert answer.status_code in (200, 302)


@pytest.mark.parametrize(("page", "area", "needs"), PAGES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_signed_out_are_sent_to_sign_in(seeded, page, area, needs, method):
    answer = getattr(Client(), method)(url_of(page))
    assert answer.status_code == 302
    assert answer["Location"].startswith(LOGIN)


@pytest.mark.parametrize(
    ("role", "status", "location"),
    [
        ("admin", 302, "/config/routing/"),
        ("supervisor", 302, "/config/routing/"),
        ("operator", 403, None),
        ("agency_staff", 403, None),
        (None, 302, LOGIN),
    ],
)
def test_the_desk_opens_on_the_first_area_the_role_may_see(seeded, role, status, location):
    answer = client_as(role).get("/config/")
    assert answer.status_code == status
    if location:
        assert answer["Location"].startswith(location)


@pytest.mark.parametrize(("role", "linked"), [(r, r in ("admin", "supervisor")) for r in ROLES])
def test_the_top_bar_links_the_desk_for_those_who_may_open_it(seeded, role, linked):
    page = client_as(role).get("/").content.decode()
    assert ('href="/config/"' in page) == linked


def test_a_supervisor_sees_users_without_the_means_to_change_them(seeded):
    page = client_as("supervisor").get("/config/users/").content.decode()
    assert "someone" in page
    assert "/config/users/new/" not in page
    assert "/password/" not in page


def test_a_deactivated_agency_stays_listed_to_its_editors(seeded):
    Agency.objects.filter(code="DLH").update(is_active=False)
    page = client_as("supervisor").get("/config/agencies/").content.decode()
    assert "/config/agencies/DLH/" in page
