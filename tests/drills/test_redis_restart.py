"""Redis killed and restarted in the middle of traffic. The database is the source of truth and
Redis only carries news: webhooks keep answering (never a 500), and a client following the replay
ends up with every event — including those whose live copy died with Redis. The drill runs its
own redis-server; the suite's Redis is never touched."""

import httpx
import pytest
from channels.layers import channel_layers

from dispatch.models import IncidentEvent
from tests.conftest import requires_postgres, sign
from tests.dispatch.helpers import every_seq, follow_replay
from tests.own_redis import OwnRedis

pytestmark = requires_postgres


@pytest.fixture
def own_redis(settings):
    redis = OwnRedis().start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": "drill"},
        }
    }
    channel_layers.backends.clear()
    yield redis
    redis.stop()
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
