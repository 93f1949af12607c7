"""`percentile_cont` on SQLite computes what PostgreSQL's does: linear interpolation between the
two nearest values, NULLs left out, NULL for no value."""

import pytest

from reports.sql import SQLitePercentile


def percentile(fraction, values):
    aggregate = SQLitePercentile()
    for value in values:
        aggregate.step(fraction, value)
    return aggregate.finalize()


@pytest.mark.parametrize(
    "fraction, values, expected",
    [
        (0.5, [4, 1, 3, 2], 2.5),
        (0.9, [4, 1, 3, 2], 3.7),
        (0.5, [7], 7),
        (0.9, [7], 7),
        (0.5, [None, 5, None, 1], 3),
        (0.0, [3, 1, 2], 1),
        (1.0, [3, 1, 2], 3),
    ],
)
def test_it_interpolates_between_the_nearest_values(fraction, values, expected):
    assert percentile(fraction, values) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[], [None, None]])
def test_no_value_gives_null(values):
    assert percentile(0.5, values) is None
