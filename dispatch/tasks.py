"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

from celery import shared_task
from django.utils import timezone

from dispatch import escalation, notifications


@shared_task(ignore_result=True)
def sweep():
    """Every two seconds: fire due escalation steps, send due notification retries."""
    now = timezone.now()
    fired = escalation.run_due(now)
    notifications.requeue_due(now)
    return fired


@shared_task(ignore_result=True)
def send_notification(notification_id):
    notifications.deliver(notification_id)
