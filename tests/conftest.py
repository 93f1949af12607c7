"""Shared fixtures. The suite runs on whatever DATABASE_URL / REDIS_URL point at: CI gives it
real PostgreSQL and Redis; `make test` alone gives SQLite and an embedded Redis."""

import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from agencies.models import Agency, Area, User
from agencies.seed import seed_cilegon

# The `twilio` fixture (the Twilio backend against a recording fake) for every test.
pytest_plugins = ["tests.twilio_fake", "tests.gateway_fake"]

TWILIO_TEST_TOKEN = "test-auth-token-0123456789abcdef"

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locking under concurrency needs PostgreSQL (CI runs it)",
)


@pytest.fixture
def cilegon(db):
    """The Cilegon reference data. Seeded once per database state: a transactional test
    flushes it, and the next test that asks seeds it again."""
    if not Area.objects.exists():
        seed_cilegon()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing is not under test here; PBKDF2 would be most of the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def own_cache(settings):
    """The cache is Redis, shared by every web process (throttle counters): each test counts
    from zero under a key prefix of its own."""
    default = settings.CACHES["default"]
    settings.CACHES = {"default": dict(default, KEY_PREFIX=f"test-{uuid.uuid4().hex[:12]}")}


@pytest.fixture(autouse=True)
def no_map_tiles(settings):
    """No test, and no browser a test drives, fetches map tiles from the internet."""
    settings.MAP_TILE_URL = ""


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TEST_TOKEN
    settings.PUBLIC_BASE_URL = ""
    settings.FALLBACK_PHONE_NUMBER = ""
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
    return settings


def sign(url, params, token=TWILIO_TEST_TOKEN):
    return RequestValidator(token).compute_signature(url, params)


def post_signed(client, path, params, *, base="http://testserver", token=TWILIO_TEST_TOKEN):
    """POST form params the way Twilio does: signed over the full URL and every parameter."""
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sign(base + path, params, token))


def make_user(username, role, agency_code=None, password="s3cure-Pass-112"):
    agency = Agency.objects.get(code=agency_code) if agency_code else None
    user = User.objects.create_user(username=username, password=password, role=role, agency=agency)
    return user


@pytest.fixture
def operator(cilegon):
    return make_user("op", User.Role.OPERATOR)


@pytest.fixture
def supervisor(cilegon):
    return make_user("sup", User.Role.SUPERVISOR)


@pytest.fixture
def admin_user(cilegon):
    return make_user("adm", User.Role.ADMIN)


@pytest.fixture
def dpkp_staff(cilegon):
    return make_user("dpkp_staff", User.Role.AGENCY_STAFF, "DPKP")


@pytest.fixture
def psc_staff(cilegon):
    return make_user("psc_staff", User.Role.AGENCY_STAFF, "PSC119")


def api_as(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
