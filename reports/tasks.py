"""Celery tasks. They only call the domain functions; the beat schedule is in settings."""

from celery import shared_task

from reports import rollup


@shared_task(ignore_result=True)
def refresh_rollups():
    """Every minute: tally the hours that are over and those a late change made stale."""
    return rollup.refresh()
