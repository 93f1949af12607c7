import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dispatch.settings")

app = Celery("dispatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def quieter_routine_tasks(logger, **kwargs):
    """The escalation sweep runs every two seconds: its "received"/"succeeded" lines would bury
    the log lines that matter (escalations, notifications, errors)."""
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        logging.getLogger(name).setLevel(logging.WARNING)


@worker_init.connect
def publish_through_one_loop(**kwargs):
    """Escalation events are published from worker processes: one event loop and one Redis
    connection per process instead of a new pair per event (see dispatch.events.Sender).
    Set before the pool starts; prefork children make their own loop after the fork."""
    from dispatch.events import sender  # noqa: PLC0415 (Django is ready only now)

    sender.use_own_loop()
