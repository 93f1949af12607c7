"""Human-readable incident references: `CLG-20261128-0007`, numbered per day (WIB).

The number comes from one atomic upsert on a counter row, so concurrent intakes never get the
same reference (a `count()+1` would). Supported by PostgreSQL and SQLite ≥ 3.35 alike. The
voice intake does the same upsert inside its own statement (calls.intake), formatting the
number in SQL with NUMBERED_REFERENCE_SQL.
"""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from dispatch.models import ReferenceCounter

# The day's number, at least four digits, as `f"{number:04d}"` writes it (PostgreSQL).
NUMBERED_REFERENCE_SQL = "lpad({number}::text, greatest(4, length({number}::text)), '0')"


def next_number(day):
    table = connection.ops.quote_name(ReferenceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, last) VALUES (%s, 1) "  # noqa: S608 (table name only)
            f"ON CONFLICT (day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [day],
        )
        return cursor.fetchone()[0]


def prefix_of(day):
    return f"{settings.INCIDENT_REFERENCE_PREFIX}-{day:%Y%m%d}-"


def next_reference(now=None):
    day = timezone.localdate(now or timezone.now())
    return f"{prefix_of(day)}{next_number(day):04d}"
