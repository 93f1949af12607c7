"""The reports from the rollups (reports.tallies, reports.rollup) are the reports from the rows
(reports.summary.summary_from_rows), figure for figure: on random history across days, for
whole WIB days, instants in the middle of an hour, periods across WIB midnight, empty ones;
after late changes, at once, before the rollup task runs again; at a fixed number of queries
whatever the period's length.

The rollup task tallies hours that are over by the database's clock, so the history here lies
in the days before the real now (time_machine moves Python's clock only).
"""

import random
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agencies.models import Agency, Area, Category
from calls.models import Call
from dispatch.models import Assignment, Incident
from reports import rollup
from reports.models import DirtyHour, RollupState, Tally
from reports.summary import summary_from_rows, summary_from_tallies
from reports.tallies import floor_hour, wib_midnight
from tests.reports.test_summary import DAY, EMPTY, NIGHT, night  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="rollups are PostgreSQL's; SQLite reads rows"
    ),
    pytest.mark.django_db,
]

HISTORY_DAYS = 4
INCIDENTS = 120


def now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def history_start():
    """A WIB midnight a few days before the database's now."""
    return wib_midnight(now() - timedelta(days=HISTORY_DAYS + 1))


def moment(rng, start, days=HISTORY_DAYS):
    """A random instant, to the microsecond — and now and then a whole second, or a tie at a
    twentieth of a second (which a tenth rounds half away from zero)."""
    at = start + timedelta(seconds=rng.uniform(0, days * 86400))
    roll = rng.random()
    if roll < 0.3:
        return at.replace(microsecond=0)
    if roll < 0.4:
        return at.replace(microsecond=50000)
    return at


def later(rng, at, most=300):
    return at + timedelta(seconds=rng.choice([0, 15, 20, 60, 60.05, rng.uniform(0, most)]))


def random_history(rng, start):
    agencies = list(Agency.objects.all())
    categories = [None, *Category.objects.all()]
    areas = [None, *Area.objects.all()]
    for number in range(INCIDENTS):
        opened = moment(rng, start)
        dispatched = rng.random() < 0.7
        incident = Incident.objects.create(
            reference=f"R-{number}",
            category=rng.choice(categories),
            area=rng.choice(areas),
            dispatched_at=later(rng, opened, 120) if dispatched else None,
        )
        Incident.objects.filter(pk=incident.pk).update(created_at=opened)
        for _call in range(rng.choice([0, 1, 1, 2])):
            random_call(rng, later(rng, opened, -60) - timedelta(seconds=90), incident)
        if dispatched:
            for agency in rng.sample(agencies, rng.choice([1, 1, 2, 3])):
                random_assignment(rng, incident, agency)
    for _call in range(INCIDENTS // 2):  # calls that became no incident
        random_call(rng, moment(rng, start), None)


def random_call(rng, arrived, incident):
    channel = rng.choice([Call.Channel.VOICE] * 4 + [Call.Channel.SMS])
    direction = rng.choice([Call.Direction.INBOUND] * 6 + [Call.Direction.OUTBOUND])
    voice = channel == Call.Channel.VOICE
    picked_up = voice and rng.random() < 0.8
    wait = rng.choice([5, 15, 16, 20, 21, 40])
    Call.objects.create(
        sid=f"CA{rng.getrandbits(64):032x}",
        channel=channel,
        direction=direction,
        from_number="+6281234567890",
        started_at=arrived,
        incident=incident,
        abandoned=voice and rng.random() < 0.15,
        picked_up_at=arrived + timedelta(seconds=wait, microseconds=rng.randrange(10**6))
        if picked_up
        else None,
        wait_seconds=wait if picked_up else None,
        classification=rng.choice([None, *Call.Classification.values]),
    )


def random_assignment(rng, incident, agency):
    created = incident.dispatched_at
    Assignment.objects.create(
        incident=incident,
        agency=agency,
        created_at=created,
        acknowledged_at=later(rng, created, 200) if rng.random() < 0.8 else None,
        escalation_level=rng.choice([0, 0, 0, 1, 2]),
    )


def periods(start):
    """Whole WIB days, instants mid-hour, across WIB midnight, an empty one, the whole history
    and beyond (into hours not yet over)."""
    day = timedelta(days=1)
    mid = timedelta(hours=5, minutes=17, seconds=3, microseconds=12345)
    return [
        (start, start + day),
        (start + day, start + 3 * day),
        (start, start + HISTORY_DAYS * day),
        (start + mid, start + 2 * day + mid),
        (start + day - timedelta(minutes=90), start + day + timedelta(minutes=30)),
        (start + day - timedelta(hours=3), start + day + timedelta(hours=2)),
        (start + mid, start + mid + timedelta(minutes=20)),
        (start - 10 * day, start - 9 * day),
        (start - day, start + 30 * day),
        (start + 2 * day + mid, now() + day),
    ]


def assert_same_reports(start):
    for since, until in periods(start):
        assert summary_from_tallies(since, until) == summary_from_rows(since, until), (since, until)


@pytest.fixture
def history(cilegon):
    start = history_start()
    random_history(random.Random(12), start)
    return start


def test_the_rollups_give_the_figures_of_the_rows(history):
    assert rollup.refresh() > 0
    assert Tally.objects.filter(level=Tally.Level.BEFORE).exists()
    assert not DirtyHour.objects.filter(hour__gte=history).exists()
    assert_same_reports(history)


def test_before_any_rollup_every_figure_is_read_from_the_rows(history):
    assert not RollupState.objects.exists()
    assert_same_reports(history)


def test_tallying_again_changes_nothing(history):
    rollup.refresh()
    tallies = sorted(Tally.objects.values_list("level", "start", "figure", "key", "value", "n"))
    DirtyHour.objects.bulk_create(
        [DirtyHour(hour=history + timedelta(hours=hours)) for hours in (3, 30, 31, 70)]
    )
    assert rollup.refresh() == 4
    assert rollup.refresh() == 0
    assert tallies == sorted(
        Tally.objects.values_list("level", "start", "figure", "key", "value", "n")
    )


def late_changes(rng, start):
    """What reaches an hour long tallied: an acknowledgement, a dispatch, a pick-up hours later,
    a merge (calls moved to another incident), a classification, an incident reopened with a
    new category, a call deleted, a new call back-dated."""
    assignment = Assignment.objects.filter(acknowledged_at__isnull=True).first()
    assignment.acknowledged_at = assignment.created_at + timedelta(seconds=33.3)
    assignment.escalation_level = 3
    assignment.save()
    undispatched = Incident.objects.filter(dispatched_at__isnull=True).first()
    undispatched.dispatched_at = undispatched.created_at + timedelta(seconds=44)
    undispatched.save()
    Call.objects.create(
        sid="CA-late",
        from_number="+6281234567890",
        started_at=undispatched.created_at - timedelta(seconds=20),
        incident=undispatched,
        picked_up_at=undispatched.created_at - timedelta(seconds=3),
        wait_seconds=17,
        classification=Call.Classification.NORMAL,
    )
    waiting = Call.objects.filter(picked_up_at__isnull=True, channel=Call.Channel.VOICE).first()
    Call.objects.filter(pk=waiting.pk).update(
        picked_up_at=waiting.started_at + timedelta(hours=3), wait_seconds=10800, abandoned=False
    )
    survivor, merged = Incident.objects.filter(dispatched_at__isnull=False).order_by("pk")[:2]
    Call.objects.filter(incident=merged).update(incident=survivor)
    Call.objects.filter(classification__isnull=True).update(classification=Call.Classification.INFO)
    reopened = Incident.objects.order_by("-pk").first()
    reopened.category = Category.objects.order_by("-code").first()
    reopened.area = None
    reopened.save()
    Call.objects.filter(pk=Call.objects.order_by("pk").first().pk).delete()
    Call.objects.create(
        sid="CA-backdated",
        from_number="+6281234567890",
        started_at=moment(rng, start),
        picked_up_at=None,
        abandoned=True,
    )


def test_a_late_change_shows_at_once(history):
    rollup.refresh()
    before = summary_from_tallies(history, history + timedelta(days=HISTORY_DAYS))
    late_changes(random.Random(5), history)
    assert DirtyHour.objects.exists()
    after = summary_from_tallies(history, history + timedelta(days=HISTORY_DAYS))
    assert after != before
    assert_same_reports(history)
    rollup.refresh()
    assert not DirtyHour.objects.filter(hour__gte=history).exists()
    assert_same_reports(history)


def test_a_change_in_the_current_hour_marks_nothing(cilegon):
    opened = floor_hour(now()) + timedelta(seconds=1)
    incident = Incident.objects.create(reference="R-now")
    Incident.objects.filter(pk=incident.pk).update(created_at=opened, dispatched_at=opened)
    assert not DirtyHour.objects.exists()


def test_the_night_of_the_hand_counted_report_from_the_rollups(night):  # noqa: F811
    rollup.refresh()
    for period in (NIGHT, DAY, EMPTY):
        since, until = (parsed(period[end]) for end in ("since", "until"))
        assert summary_from_tallies(since, until) == summary_from_rows(since, until)


def parsed(text):
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else timezone.make_aware(at)


def test_a_report_costs_the_same_queries_for_a_day_and_a_year(history):
    rollup.refresh()
    counts = []
    for days in (1, 30, 365):
        with CaptureQueriesContext(connection) as captured:
            summary_from_tallies(history - timedelta(days=days - 2), history + timedelta(days=2))
        counts.append(len(captured))
    assert counts == [2, 2, 2]


def test_a_second_runner_waits_for_nothing_and_changes_nothing(history):
    """The rollup step holds an advisory lock: a runner on another connection that finds it
    taken stops at once."""
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [rollup.LOCK_KEY])
            assert rollup.refresh() == 0
            cursor.execute("ROLLBACK")
    finally:
        other.close()
    assert rollup.refresh() > 0


def test_where_hours_are_not_utc_hours_nothing_is_tallied(history, settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+5:30: its midnights fall mid-hour
    assert rollup.refresh() == 0
    assert not Tally.objects.exists()
