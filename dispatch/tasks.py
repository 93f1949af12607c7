"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

import logging
import time

import redis
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from dispatch import escalation, notifications

logger = logging.getLogger(__name__)

# The sweep's last run, for /healthz/ (config.health) to tell a late beat.
LAST_SWEEP_KEY = "dispatch:beat:last-sweep"
REDIS_TIMEOUT = 1.0


def short_timeout_redis():
    """A client of its own with short timeouts, not the channel layer's (15 s reads)."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


@shared_task(ignore_result=True)
def sweep():
    """Every two seconds: fire due escalation steps, send due notification retries."""
    fired = escalation.run_due()  # each batch reads the clock: a long sweep misses nothing
    notifications.requeue_due(timezone.now())
    stamp_sweep()
    return fired


def stamp_sweep():
    """/healthz/ reports a late beat from this stamp. Redis away must not fail the sweep."""
    try:
        # It expires, so a stopped beat is never "ok".
        short_timeout_redis().set(LAST_SWEEP_KEY, time.time(), ex=86400)
    except Exception:
        logger.warning("could not record the sweep's time for /healthz/", exc_info=True)


@shared_task(ignore_result=True)
def send_notification(notification_id):
    notifications.deliver(notification_id)
