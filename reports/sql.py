"""The SQL the reports need beyond Django's own aggregates: PostgreSQL's `percentile_cont`.

SQLite (the embedded default of `make run` and `make test`) has no percentiles: each of its
connections gets a `percentile_cont(fraction, value)` aggregate written in Python, computed the
way PostgreSQL computes it, so the reports have one definition on both databases.
"""

import math

from django.db.models import Aggregate, FloatField, Func


class PercentileCont(Aggregate):
    """The continuous percentile `fraction` (0.5 the median) of `expression` over the group,
    interpolating between the two nearest values; NULLs are left out, no value gives NULL."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction, **extra):
        # Written into the SQL itself (an ordered-set aggregate's direct argument): a number only.
        super().__init__(expression, fraction=float(fraction), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="%(function)s(%(fraction)s, %(expressions)s)",
            **extra_context,
        )


class SQLitePercentile:
    """`percentile_cont(fraction, value)` as an SQLite aggregate."""

    def __init__(self):
        self.fraction = None
        self.values = []

    def step(self, fraction, value):
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self):
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = self.fraction * (len(ordered) - 1)
        below, above = ordered[math.floor(position)], ordered[math.ceil(position)]
        return below + (above - below) * (position - math.floor(position))


def add_percentile_to_sqlite(sender, connection, **kwargs):
    """`connection_created` receiver."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("percentile_cont", 2, SQLitePercentile)


class Tenths(Func):
    """A duration in whole tenths of a second (half away from zero), the precision the report
    shows: its medians and percentiles are of these, as are the rollups' (reports.tallies)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="round(extract(epoch FROM %(expressions)s) * 10)"
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django's SQLite durations are whole microseconds.
        return self.as_sql(compiler, connection, template="round((%(expressions)s) / 100000.0)")
