"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

from celery import shared_task
from django.utils import timezone

from dispatch import escalation, notifications


@shared_task(ignore_result=True)
def sweep():
    """Every two seconds: fire due escalation steps, send due notification retries."""
    fired = escalation.run_due()  # each batch reads the clock: a long sweep misses nothing
    notifications.requeue_due(timezone.now())
    return fired


@shared_task(ignore_result=True)
def send_notification(notification_id):
    notifications.deliver(notification_id)
