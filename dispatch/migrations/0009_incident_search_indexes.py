"""Indexes for the history's search (IncidentFilter.search): the caller's number, and — on
PostgreSQL — trigram indexes on the upper-cased reference, description and address, which
Django's `icontains` compares (`UPPER(col) LIKE UPPER('%text%')`). Without them a search reads
every incident of the year.

The trigram indexes need the `pg_trgm` extension, trusted since PostgreSQL 13 (the database's
owner may create it). They are not in the models' Meta: SQLite (`make run` without a
DATABASE_URL) has no such index, so they are created here on PostgreSQL only."""

from django.db import migrations, models

TRIGRAM_COLUMNS = ("reference", "description", "address")


def index_name(column):
    return f"incident_{column}_trgm"


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in TRIGRAM_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index_name(column)} ON dispatch_incident "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in TRIGRAM_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index_name(column)}")


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0008_assignment_created_index")]

    operations = [
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(fields=["caller_phone"], name="incident_caller_phone"),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
