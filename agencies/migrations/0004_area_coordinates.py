from django.db import migrations, models


def fill_centroids(apps, schema_editor):
    """A database seeded before the map gets its areas' points now; seed_cilegon fills them
    from the same table from here on."""
    from agencies.seed import centroid

    Area = apps.get_model("agencies", "Area")
    for area in Area.objects.filter(latitude__isnull=True):
        point = centroid(area.code)
        if point["latitude"] is not None:
            Area.objects.filter(pk=area.pk).update(**point)


class Migration(migrations.Migration):
    dependencies = [
        ("agencies", "0003_user_answer_device"),
    ]

    operations = [
        migrations.AddField(
            model_name="area",
            name="latitude",
            field=models.DecimalField(blank=True, decimal_places=6, max_digits=9, null=True),
        ),
        migrations.AddField(
            model_name="area",
            name="longitude",
            field=models.DecimalField(blank=True, decimal_places=6, max_digits=9, null=True),
        ),
        migrations.RunPython(fill_centroids, migrations.RunPython.noop),
    ]
