"""Browser tests: the real ASGI app (HTTP + WebSocket) served by uvicorn in a thread of the test
process, on the test database and the real Redis channel layer, driven by Debian's Chromium
through Playwright. Marked `e2e`: `make test` runs them in a pytest run of their own."""

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from django.db import connections
from playwright.sync_api import sync_playwright

from agencies.models import User
from dispatch import loop_database
from tests.conftest import make_user

# Playwright's sync API keeps an event loop in the test thread; the ORM calls the tests make
# there are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "e2e-Pass-112!"
ROOT = Path(__file__).resolve().parents[2]
# Where the journeys leave their screenshots. The README's come from
# `SCREENSHOT_DIR=docs/screenshots make test PYTEST_ARGS=tests/e2e`; an ordinary run keeps the
# work tree clean.
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOT_DIR", "var/screenshots")

# Chromium may not phone home here, and the agency console's alarm must be audible without a
# click in a headless browser.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def close_connection_pools():
    """The server's threads took pooled connections; the test database can only be dropped
    once they are closed."""
    for connection in connections.all():
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker):
    """uvicorn serving config.asgi in a thread; the test database is already in settings."""
    from config.asgi import application

    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    instance = uvicorn.Server(config)
    with django_db_blocker.unblock():
        thread = threading.Thread(target=instance.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not instance.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert instance.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
        loop_database.close_running_pools()
        instance.should_exit = True
        thread.join(timeout=10)
        close_connection_pools()


@pytest.fixture(scope="session")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live(server, transactional_db, cilegon, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    return server


@pytest.fixture
def console(browser, live):
    """Sign a user in and return their page, at 1366×768 like a command-centre screen."""
    contexts = []

    def open_console(username, role, agency_code=None):
        if not User.objects.filter(username=username).exists():
            make_user(username, role, agency_code, password=PASSWORD)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(f"{live}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_selector("body[data-online=true]")
        return page

    yield open_console
    for context in contexts:
        context.close()
