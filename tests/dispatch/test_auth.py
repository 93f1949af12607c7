"""Signing in (CONTRACT §5, §12): the lockout after 10 failed passwords for one username (login
page, admin login and token endpoint alike, on every process), the token endpoint's throttle
keyed on the real client address, the TOTP second factor for the roles in REQUIRE_2FA, and the
API tokens' lifetime, rotation and revocation."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agencies.models import User
from tests.conftest import make_user
from tests.dispatch.helpers import API

PASSWORD = "s3cure-Pass-112"  # make_user's
WRONG = "not-the-password"
TOKEN_URL = f"{API}/auth/token/"
LOGIN_URL = "/accounts/login/"
ADMIN_LOGIN_URL = "/admin/login/"


@pytest.fixture
def staff_admin(cilegon):
    user = make_user("adm", User.Role.ADMIN)
    user.is_staff = True
    user.save()
    return user


def token_attempt(username, password, client=None, **extra):
    client = client or APIClient()
    body = {"username": username, "password": password, **extra.pop("body", {})}
    return client.post(TOKEN_URL, body, format="json", **extra)


def page_attempt(url, username, password, client=None, **extra):
    client = client or Client()
    return client.post(url, {"username": username, "password": password, **extra})


def signed_in(client):
    return "_auth_user_id" in client.session


def fail_ten_times(entry, username):
    """Nine refusals, then the tenth failure, which may already answer that the username is
    locked."""
    for attempt in range(1, 11):
        if entry == "token":
            status = token_attempt(username, WRONG).status_code
            assert status == 400 or (attempt == 10 and status == 429)
        else:
            url = LOGIN_URL if entry == "login" else ADMIN_LOGIN_URL
            status = page_attempt(url, username, WRONG).status_code
            assert status == 200 or (attempt == 10 and status == 429)


# --- lockout and throttle ----------------------------------------------------------------------


def test_thirty_wrong_passwords_from_thirty_forwarded_addresses_end_in_429(operator):
    """X-Forwarded-For is the client's to write: it must not make each guess a new client.
    The username locks after ten failures; the address's throttle (20/min) holds as well."""
    statuses = [
        token_attempt("op", WRONG, HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(30)
    ]
    assert statuses[:9] == [400] * 9
    assert statuses[10:] == [429] * 20


def test_the_throttle_counts_by_the_real_address_not_the_forwarded_one(cilegon):
    """Different usernames (no lockout), each from a different forwarded address: the 21st
    request from the one real address is throttled."""
    statuses = [
        token_attempt(f"nobody{i}", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(25)
    ]
    assert statuses[:20] == [400] * 20
    assert statuses[20:] == [429] * 5


LOCKED_OUT = "Terlalu banyak percobaan masuk yang gagal"


@pytest.mark.parametrize("entry", ["login", "admin", "token"])
def test_after_ten_failures_the_right_password_is_refused_everywhere(staff_admin, entry):
    """Ten failures through any entry lock the username for all three, also for a client on
    another address that never failed (the count is in the database, shared by every web
    process)."""
    fail_ten_times(entry, "adm")

    elsewhere = {"REMOTE_ADDR": "192.0.2.77"}
    browser = Client(**elsewhere)
    page = page_attempt(LOGIN_URL, "adm", PASSWORD, client=browser)
    assert page.status_code == 429
    assert LOCKED_OUT in page.content.decode()  # Bahasa Indonesia, the consoles' language
    assert not signed_in(browser)

    admin_browser = Client(**elsewhere)
    admin_page = page_attempt(
        ADMIN_LOGIN_URL, "adm", PASSWORD, client=admin_browser, next="/admin/"
    )
    assert admin_page.status_code == 429
    assert not signed_in(admin_browser)

    api = token_attempt("adm", PASSWORD, client=APIClient(**elsewhere))
    assert api.status_code == 429
    assert set(api.json()) == {"detail"}
    assert LOCKED_OUT in api.json()["detail"]


def test_nine_failures_do_not_lock(operator):
    for _ in range(9):
        assert token_attempt("op", WRONG).status_code == 400
    assert token_attempt("op", PASSWORD).status_code == 200
    browser = Client()
    assert page_attempt(LOGIN_URL, "op", PASSWORD, client=browser).status_code == 302
    assert signed_in(browser)


def test_the_lockout_is_per_username(operator, supervisor):
    fail_ten_times("token", "op")
    assert token_attempt("sup", PASSWORD).status_code == 200


def test_the_lockout_ends_after_fifteen_minutes(operator, time_machine):
    time_machine.move_to(timezone.now())
    fail_ten_times("token", "op")
    time_machine.shift(timedelta(minutes=14))
    assert token_attempt("op", PASSWORD).status_code == 429
    time_machine.shift(timedelta(minutes=16))
    assert token_attempt("op", PASSWORD).status_code == 200


# --- two-factor (REQUIRE_2FA) ------------------------------------------------------------------


@pytest.fixture
def two_factor(settings):
    settings.REQUIRE_2FA = ["admin", "supervisor"]


def enrol(user):
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"


def test_without_require_2fa_nobody_is_asked_for_a_code(supervisor):
    enrol(supervisor)
    assert token_attempt("sup", PASSWORD).status_code == 200
    page = Client().get(LOGIN_URL).content.decode()
    assert 'name="otp_token"' not in page


def test_a_2fa_role_gets_a_token_with_the_current_code(two_factor, supervisor):
    device = enrol(supervisor)
    response = token_attempt("sup", PASSWORD, body={"otp": current_code(device)})
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token"}


@pytest.mark.parametrize("otp", [None, "", "000000", "abcdef"])
def test_a_2fa_role_without_the_right_code_gets_400_naming_otp(two_factor, supervisor, otp):
    device = enrol(supervisor)
    body = {} if otp is None else {"otp": "111111" if otp == "000000" else otp}
    if body.get("otp") == current_code(device):  # one in a million
        body["otp"] = "222222"
    response = token_attempt("sup", PASSWORD, body=body)
    assert response.status_code == 400
    assert set(response.json()) == {"otp"}


def test_a_2fa_role_without_a_device_is_told_to_ask_an_admin(two_factor, staff_admin):
    response = token_attempt("adm", PASSWORD, body={"otp": "123456"})
    assert response.status_code == 400
    assert "admin" in response.json()["otp"][0]


def test_other_roles_sign_in_as_before_when_2fa_is_on(two_factor, operator):
    assert token_attempt("op", PASSWORD).status_code == 200
    browser = Client()
    assert page_attempt(LOGIN_URL, "op", PASSWORD, client=browser).status_code == 302


def test_the_login_page_asks_a_2fa_role_for_the_code(two_factor, supervisor):
    device = enrol(supervisor)
    browser = Client()
    page = browser.get(LOGIN_URL).content.decode()
    assert 'name="otp_token"' in page

    refused = page_attempt(LOGIN_URL, "sup", PASSWORD, client=browser)
    assert refused.status_code == 200
    assert refused.context["form"].errors["otp_token"]
    assert not signed_in(browser)

    accepted = page_attempt(
        LOGIN_URL, "sup", PASSWORD, client=browser, otp_token=current_code(device)
    )
    assert accepted.status_code == 302
    assert signed_in(browser)


def test_the_admin_login_asks_for_the_code_too(two_factor, staff_admin):
    device = enrol(staff_admin)
    browser = Client()
    refused = page_attempt(ADMIN_LOGIN_URL, "adm", PASSWORD, client=browser, next="/admin/")
    assert refused.status_code == 200 and not signed_in(browser)
    accepted = page_attempt(
        ADMIN_LOGIN_URL,
        "adm",
        PASSWORD,
        client=browser,
        next="/admin/",
        otp_token=current_code(device),
    )
    assert accepted.status_code == 302 and signed_in(browser)


def test_an_admin_enrols_a_user_with_a_qr_code(staff_admin, supervisor):
    """Enrolment (README): an admin adds a TOTP device for the user in /admin/ and lets them
    scan its QR code."""
    staff_admin.is_superuser = True
    staff_admin.save()
    device = enrol(supervisor)
    browser = Client()
    browser.force_login(staff_admin)

    qr = browser.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/")

    assert qr.status_code == 200
    assert qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content


# --- API tokens ------------------------------------------------------------------------------


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def age(key, days):
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(days=days))


def test_a_token_past_its_lifetime_is_refused_and_a_new_one_issued(operator, settings):
    settings.API_TOKEN_DAYS = 30
    old = token_attempt("op", PASSWORD).json()["token"]
    age(old, 29)
    assert token_client(old).get(f"{API}/me/").status_code == 200
    age(old, 31)
    assert token_client(old).get(f"{API}/me/").status_code == 401

    new = token_attempt("op", PASSWORD).json()["token"]
    assert new != old
    assert token_client(new).get(f"{API}/me/").status_code == 200


def test_a_password_change_rotates_the_token(operator):
    old = token_attempt("op", PASSWORD).json()["token"]
    operator.set_password("an0ther-Pass-112")
    operator.save()

    assert token_client(old).get(f"{API}/me/").status_code == 401
    new = token_attempt("op", "an0ther-Pass-112").json()["token"]
    assert new != old


def test_a_password_change_through_the_api_rotates_the_token(operator, admin_user):
    old = token_attempt("op", PASSWORD).json()["token"]
    admin = APIClient()
    admin.force_authenticate(admin_user)
    response = admin.patch(
        f"{API}/users/{operator.pk}/", {"password": "an0ther-Pass-112"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert token_client(old).get(f"{API}/me/").status_code == 401


def test_a_sign_in_that_only_upgrades_the_hash_keeps_the_token(operator, settings):
    """Django re-hashes a password at sign-in when the hasher changes: not a password change."""
    old = token_attempt("op", PASSWORD).json()["token"]
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert token_attempt("op", PASSWORD).json()["token"] == old
    operator.refresh_from_db()
    assert operator.password.startswith("pbkdf2_sha1$")
    assert token_client(old).get(f"{API}/me/").status_code == 200


def test_deactivating_a_user_deletes_their_token(operator):
    token_attempt("op", PASSWORD)
    operator.is_active = False
    operator.save()
    assert not Token.objects.filter(user=operator).exists()


def test_a_user_revokes_their_token(operator):
    key = token_attempt("op", PASSWORD).json()["token"]
    response = token_client(key).delete(TOKEN_URL)
    assert response.status_code == 204
    assert token_client(key).get(f"{API}/me/").status_code == 401
    assert token_attempt("op", PASSWORD).json()["token"] != key


def test_revoking_needs_a_signed_in_caller(operator):
    token_attempt("op", PASSWORD)
    assert APIClient().delete(TOKEN_URL).status_code == 401
    assert Token.objects.filter(user=operator).exists()


def test_the_admin_shows_who_has_a_token_but_never_the_key(staff_admin, operator):
    staff_admin.is_superuser = True
    staff_admin.save()
    key = token_attempt("op", PASSWORD).json()["token"]
    browser = Client()
    browser.force_login(staff_admin)

    listing = browser.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "op" in page
    assert key not in page
    for path in (f"{operator.pk}/change/", f"{key}/change/", f"{operator.pk}/delete/"):
        response = browser.get(f"/admin/authtoken/tokenproxy/{path}")
        assert key not in response.content.decode(), path
