"""`manage.py build_report_rollups`: tally the history a database already holds (after an
upgrade to the rollups), then whatever is due; the beat's task does the same every minute."""

import time

from django.core.management.base import BaseCommand

from reports.rollup import refresh


class Command(BaseCommand):
    help = "Tally the reports' rollups of every hour that is over (PostgreSQL)."

    def handle(self, *args, **options):
        started = time.monotonic()
        tallied = refresh()
        self.stdout.write(f"{tallied} hours tallied in {time.monotonic() - started:.0f} s")
