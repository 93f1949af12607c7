"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

import logging

from celery import shared_task
from django.utils import timezone

from dispatch import escalation, health, notifications

logger = logging.getLogger(__name__)


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
        health.record_sweep()
    except Exception:
        logger.warning("could not record the sweep's time for /healthz/", exc_info=True)


@shared_task(ignore_result=True)
def send_notification(notification_id):
    notifications.deliver(notification_id)
