# The reports count the assignments created in a period (reports.summary).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0007_incident_close_reason'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='assignment',
            index=models.Index(fields=['created_at'], name='assignment_created'),
        ),
    ]
