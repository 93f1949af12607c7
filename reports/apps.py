from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self):
        from reports.sql import add_percentile_to_sqlite

        connection_created.connect(add_percentile_to_sqlite)
