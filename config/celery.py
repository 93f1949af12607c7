import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger
from django.conf import settings

from config.logformat import JsonFormatter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dispatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def quieter_routine_tasks(logger, **kwargs):
    """The escalation sweep runs every two seconds: its "received"/"succeeded" lines would bury
    the log lines that matter (escalations, notifications, errors)."""
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        logging.getLogger(name).setLevel(logging.WARNING)


@after_setup_logger.connect
@after_setup_task_logger.connect
def json_lines(logger, **kwargs):
    """Celery replaces the root logger's handlers with its own: LOG_FORMAT=json applies to
    them too, so escalations logged by the worker are JSON lines like the web's."""
    if settings.LOG_FORMAT == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
