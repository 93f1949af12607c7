"""The web process's request threads (config/request_threads.py): a request takes an idle
thread instead of starting one, concurrent requests still get one each, and idle threads are
bounded. Requests go through the ASGI application itself, as uvicorn calls it."""

import asyncio
import threading

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_started

from config.request_threads import DjangoHTTP, RequestThreads

pytestmark = pytest.mark.django_db(transaction=True)


def scope(path="/healthz/"):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def get(app):
    communicator = ApplicationCommunicator(app, scope())
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=10)
    await communicator.receive_output(timeout=10)  # the body
    await communicator.wait(timeout=10)
    return start["status"]


@pytest.fixture
def request_threads():
    """The thread each request's `request_started` receivers ran on: the request's thread."""
    seen = []

    def note_thread(**kwargs):
        seen.append(threading.current_thread())

    request_started.connect(note_thread)
    yield seen
    request_started.disconnect(note_thread)


def test_one_request_after_another_runs_on_the_same_thread(request_threads):
    app = DjangoHTTP(RequestThreads(keep_idle=4))

    async def two_requests():
        return [await get(app), await get(app)]

    assert asyncio.run(two_requests()) == [200, 200]
    first, second = request_threads
    assert first is second
    assert first is not threading.main_thread()
    assert len(app.threads.idle) == 1


def two_requests_that_must_meet(app):
    """Two requests at once, each holding its thread until the other's arrives: on one
    shared thread they never would (the barrier times out)."""
    both_in = threading.Barrier(2, timeout=10)

    def wait_for_the_other(**kwargs):
        both_in.wait()

    async def together():
        return await asyncio.gather(get(app), get(app))

    request_started.connect(wait_for_the_other)
    try:
        return asyncio.run(together())
    finally:
        request_started.disconnect(wait_for_the_other)


def test_concurrent_requests_each_get_a_thread(request_threads):
    app = DjangoHTTP(RequestThreads(keep_idle=4))
    assert two_requests_that_must_meet(app) == [200, 200]
    assert request_threads[0] is not request_threads[1]
    assert len(app.threads.idle) == 2


def test_idle_threads_beyond_the_bound_are_ended(request_threads):
    app = DjangoHTTP(RequestThreads(keep_idle=1))
    assert two_requests_that_must_meet(app) == [200, 200]
    assert len(app.threads.idle) == 1
    kept = app.threads.idle[0]
    ended = [thread for thread in request_threads if thread not in kept._threads]
    assert len(ended) == 1
    ended[0].join(timeout=10)
    assert not ended[0].is_alive()
