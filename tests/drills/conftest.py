"""Fault drills: the real ASGI app served by uvicorn in a thread of the test process (as the
browser tests do), real PostgreSQL and Redis, and a fault in the middle of traffic. Marked
`drill`; CI runs them with the rest of the suite."""

import httpx
import pytest
from rest_framework.authtoken.models import Token

from agencies.models import User
from tests.conftest import make_user
from tests.e2e.conftest import close_connection_pools, free_port, server  # noqa: F401


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/drills/" in str(item.fspath):
            item.add_marker(pytest.mark.drill)


@pytest.fixture
def live(server, transactional_db, cilegon, settings):  # noqa: F811
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    return server


@pytest.fixture
def operator_api(live):
    """An HTTP client signed in as an operator with an API token."""
    user = make_user("drill-operator", User.Role.OPERATOR)
    token = Token.objects.create(user=user)
    with httpx.Client(
        base_url=live, headers={"Authorization": f"Token {token.key}"}, timeout=20
    ) as client:
        yield client
