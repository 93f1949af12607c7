"""The reports' rollups (reports.tallies): what a period's report adds up instead of reading every
call, incident and assignment of the period again."""

from django.db import models


class Tally(models.Model):
    """How many facts of one kind (`figure`, `key`, `value`) happened in one hour, or before the
    start of a WIB day — e.g. the calls picked up within 15 s, the incidents of one category,
    the assignments of one agency acknowledged after `value` tenths of a second. The figures of
    whole days between two WIB midnights are the difference of two `BEFORE` tallies."""

    class Level(models.TextChoices):
        HOUR = "h"
        BEFORE = "c"

    level = models.CharField(max_length=1, choices=Level.choices)
    start = models.DateTimeField()
    figure = models.CharField(max_length=32)
    key = models.CharField(max_length=32, blank=True)
    value = models.BigIntegerField(default=0)
    n = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["level", "start", "figure", "key", "value"], name="tally_unique"
            )
        ]

    def __str__(self):
        return f"{self.level} {self.start} {self.figure} {self.key} {self.value}: {self.n}"


class DirtyHour(models.Model):
    """A mark that a late change made an hour's tallies stale (a database trigger adds one per
    changed row; migration reports/0002): reports compute the hour from the rows until the
    rollup task tallies it again and deletes the marks it saw. A mark of its own per change,
    never a shared row: the writers of one hour never wait for one another nor for the task,
    and a mark is seen exactly when the change it marks is."""

    hour = models.DateTimeField(db_index=True)

    def __str__(self):
        return str(self.hour)


class RollupState(models.Model):
    """One row: every hour in [origin, built_until) is tallied (or marked dirty), and every WIB
    midnight in [origin, built_until] has its `BEFORE` tallies."""

    origin = models.DateTimeField()
    built_until = models.DateTimeField()

    def __str__(self):
        return str(self.built_until)
