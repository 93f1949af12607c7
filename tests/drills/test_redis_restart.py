"""Redis killed and restarted in the middle of traffic. The database is the source of truth and
Redis only carries news: webhooks keep answering (never a 500), and a client following the replay
ends up with every event — including those whose live copy died with Redis. The drill runs its
own redis-server; the suite's Redis is never touched."""

import shutil
import signal
import socket
import subprocess
import time

import httpx
import pytest
from channels.layers import channel_layers

from dispatch.models import IncidentEvent
from tests.conftest import requires_postgres, sign
from tests.dispatch.helpers import every_seq, follow_replay

pytestmark = requires_postgres


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self, port):
        self.port = port
        self.process = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(settings):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(free_port())
    redis.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{redis.port}/0"], "prefix": "drill"},
        }
    }
    channel_layers.backends.clear()
    yield redis
    if redis.process.poll() is None:
        redis.kill()
    channel_layers.backends.clear()


def voice_webhook(base, sid):
    params = {"CallSid": sid, "From": "+6281234500001", "To": "112", "CallStatus": "ringing"}
    return httpx.post(
        f"{base}/calls/twilio/voice/",
        data=params,
        headers={"X-Twilio-Signature": sign(f"{base}/calls/twilio/voice/", params)},
        timeout=20,
    )


def test_a_redis_restart_loses_no_call_and_no_event(live, own_redis, operator_api):
    statuses = []
    for phase in ("before", "down", "after"):
        if phase == "down":
            own_redis.kill()
        if phase == "after":
            own_redis.start()
        statuses += [voice_webhook(live, f"CAredis-{phase}-{n}").status_code for n in range(8)]
    assert statuses == [200] * 24

    assert follow_replay(operator_api) == every_seq()
    assert IncidentEvent.objects.filter(type="call.created").count() == 24
