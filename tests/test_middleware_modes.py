"""The middleware chain under ASGI: every entry runs on the event loop (a request crosses to
a thread for its sync view only, config/middleware.py says why), and behaves as it does under
the sync test client. The requests go through Django's AsyncClient, whose handler loads the
chain in async mode as the ASGI application does."""

from unittest import mock

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.test import AsyncClient
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from config.middleware import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.django_db


def get(path, **headers):
    return async_to_sync(AsyncClient().get)(path, headers=headers)


def post(path, data, **extra):
    return async_to_sync(AsyncClient().post)(path, data, **extra)


@pytest.mark.parametrize("path", settings.MIDDLEWARE)
def test_every_middleware_runs_on_the_event_loop(path):
    middleware = import_string(path)
    assert getattr(middleware, "async_capable", False), f"{path} would run in a thread"
    if issubclass(middleware, MiddlewareMixin):
        # Django's MiddlewareMixin hands each process_* step to a thread in async mode.
        assert middleware.__acall__ is not MiddlewareMixin.__acall__, (
            f"{path}: a MiddlewareMixin without config.middleware.OnTheLoop costs a thread "
            "hand-off per step"
        )


def test_the_csrf_token_is_kept_where_the_loop_can_read_it():
    """config.middleware.Csrf runs on the loop because the token is a cookie, not session
    data (which is read from the database)."""
    assert not settings.CSRF_USE_SESSIONS


def thread_hops(path, middleware):
    """How many times a GET of `path` hands work to a thread, with this middleware chain."""
    counted = mock.Mock(side_effect=SyncToAsync.__call__, autospec=True)
    with (
        mock.patch.object(settings, "MIDDLEWARE", middleware),
        mock.patch.object(SyncToAsync, "__call__", lambda self, *a, **k: counted(self, *a, **k)),
    ):
        response = get(path)
    assert response.status_code == 200
    return counted.call_count


def test_the_middleware_chain_adds_no_thread_hop():
    # Both 3: request_started, the view, request_finished. Before config.middleware, 15
    # (Django's MiddlewareMixin steps, the sync-only ones).
    assert thread_hops("/healthz/", settings.MIDDLEWARE) == thread_hops("/healthz/", [])


def test_pages_carry_the_content_security_policy():
    response = get("/accounts/login/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_api_answers_are_not_stored_by_a_cache():
    response = get("/api/v1/incidents/")
    assert response.status_code == 401
    assert "no-store" in response.headers["Cache-Control"]


def test_an_oversized_body_is_refused(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = post("/api/v1/incidents/", {"summary": "x" * 500})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large."}


def test_the_browsers_language_is_ignored():
    response = get("/accounts/login/", accept_language="en")
    assert response.headers["Content-Language"] == "id"


def test_a_static_file_is_served_with_its_headers(client):
    response = get("/static/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers == client.get("/static/favicon.svg").headers


def test_a_sign_in_saves_its_session(operator):
    client = AsyncClient()
    signed_in = async_to_sync(client.post)(
        "/accounts/login/", {"username": operator.username, "password": "s3cure-Pass-112"}
    )
    assert signed_in.status_code == 302
    home = async_to_sync(client.get)("/")
    assert home.status_code == 200
    assert home.asgi_request.user == operator
