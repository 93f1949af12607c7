"""The escalations panel's list (`assignments/?escalated=1&status=pending,cancelled`): a partial
index of the escalated assignments by status. Without it, a year of data makes PostgreSQL read
the whole (agency, status) index to count a few rows (bench/year.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0009_incident_search_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("escalation_level__gt", 0)),
                fields=["status"],
                name="assignment_escalated_status",
            ),
        ),
    ]
