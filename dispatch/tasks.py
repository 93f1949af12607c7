"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

import logging
import time

import redis
from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone

from dispatch import escalation, notifications

logger = logging.getLogger(__name__)

# The sweep's last run, for /healthz/ (config.health) to tell a late beat.
LAST_SWEEP_KEY = "dispatch:beat:last-sweep"
REDIS_TIMEOUT = 1.0
# As beat's sweeps (settings.CELERY_BEAT_SCHEDULE): one that waited longer is pointless.
SWEEP_EXPIRES = 5 * settings.ESCALATION_SWEEP_SECONDS


def short_timeout_redis():
    """A client of its own with short timeouts, not the channel layer's (15 s reads)."""
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


@shared_task(bind=True, ignore_result=True)
def sweep(self):
    """Every two seconds: fire due escalation steps, send due notification retries."""
    fired = escalation.run_due(on_backlog=lambda: share_the_burst(self))  # each batch: clock
    notifications.requeue_due(timezone.now())
    stamp_sweep()
    return fired


@shared_task(bind=True, ignore_result=True)
def sweep_burst(self):
    """A helper sweep: fire due steps only, beside a sweep that found more than one batch due.
    Every free worker process joins a burst this way instead of one process doing it all."""
    return escalation.run_due(on_backlog=lambda: share_the_burst(self))


def share_the_burst(task):
    """Ask for one more sweeper, on the queue this sweep came from. Each one that finds a full
    batch asks for the next, so the helpers grow with the backlog and stop with it; one that
    comes too late finds nothing due (a few ms) or has expired."""
    queue = (task.request.delivery_info or {}).get("routing_key")
    try:
        sweep_burst.apply_async(queue=queue, expires=SWEEP_EXPIRES)
    except Exception:
        logger.warning("could not ask for a helper sweep", exc_info=True)


@worker_ready.connect
def sweep_when_ready(sender, **kwargs):
    """A worker that starts (after an outage, say) fires what is overdue now, not at beat's
    next tick: one sweep on the first queue it consumes, which its own processes take."""
    queues = [queue.name for queue in sender.task_consumer.queues]
    try:
        sweep.apply_async(queue=queues[0] if queues else None, expires=SWEEP_EXPIRES)
    except Exception:
        logger.warning("could not sweep at worker start", exc_info=True)


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
