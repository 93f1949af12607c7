"""Races that only a real database with row locks can show: many requests at the same instant.

Each test runs its contenders in real threads, each on its own database connection, held at a
barrier until all are connected so they hit the database together. PostgreSQL only: SQLite
serialises writers with one file lock, which proves nothing about row locking.
"""

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from agencies.models import Agency, Area, Category, User
from calls import intake
from calls.models import Call
from dispatch import incidents
from dispatch.models import Assignment, Incident, IncidentEvent, ReferenceCounter
from tests.conftest import make_user, requires_postgres

pytestmark = requires_postgres

# How long a contender may wait for the others or for a lock before the test gives up. Only
# a guard against a hang: no assertion depends on timing.
WAIT_SECONDS = 60


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """Users are made by the dozen here; PBKDF2 would spend seconds on what is not tested."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def race(count, contender):
    """Run `contender(i)` for i in 0..count-1 in as many threads, released together. Returns
    one `(result, exception)` pair per contender, in order."""
    barrier = threading.Barrier(count, timeout=WAIT_SECONDS)
    outcomes = [None] * count

    def run(index):
        try:
            connection.ensure_connection()  # connect before the start line, not after it
            barrier.wait()
            outcomes[index] = (contender(index), None)
        except Exception as exc:  # noqa: BLE001 (reported to the test below)
            outcomes[index] = (None, exc)
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=run, args=(i,), name=f"contender-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a contender hung"
    return outcomes


def split(outcomes, expected_exception):
    """Winners' results and the losers' exceptions; any other exception fails the test."""
    unexpected = [
        exc for _result, exc in outcomes if exc and not isinstance(exc, expected_exception)
    ]
    assert not unexpected, unexpected
    winners = [result for result, exc in outcomes if exc is None]
    losers = [exc for _result, exc in outcomes if exc is not None]
    return winners, losers


def fire_in_citangkil(**fields):
    return incidents.create_incident(
        actor=None,
        category=Category.objects.get(code=fields.pop("category", "FIRE")),
        area=Area.objects.get(code="36.72.08.1007"),
        description="Gudang terbakar",
        **fields,
    )


def test_one_acknowledgement_wins(transactional_db, cilegon):
    incident = fire_in_citangkil()
    [assignment] = incidents.dispatch(incident.id, actor=None)
    staff = [make_user(f"dpkp{i}", User.Role.AGENCY_STAFF, "DPKP") for i in range(10)]

    outcomes = race(
        len(staff), lambda i: incidents.acknowledge(assignment.id, actor=staff[i]).acknowledged_by
    )

    winners, losers = split(outcomes, incidents.Conflict)
    assert len(winners) == 1
    assert len(losers) == len(staff) - 1
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ACKNOWLEDGED
    assert assignment.acknowledged_by == winners[0]
    assert IncidentEvent.objects.filter(type="assignment.acknowledged").count() == 1
    # The incident moved on exactly once too.
    assert IncidentEvent.objects.filter(type="incident.in_progress").count() == 1
    assert Incident.objects.get().status == Incident.Status.IN_PROGRESS


# A fixed instant, so the 20 references cannot straddle midnight (WIB) and restart at 0001.
MORNING = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 10:00 WIB


def test_concurrent_intakes_get_distinct_consecutive_references(transactional_db):
    with time_machine.travel(MORNING, tick=True):
        outcomes = race(20, lambda i: incidents.create_incident(actor=None).reference)

    references, _losers = split(outcomes, ())
    assert len(references) == 20
    assert len(set(references)) == 20
    assert {reference.rsplit("-", 1)[0] for reference in references} == {"CLG-20261128"}
    assert sorted(int(reference.rsplit("-", 1)[1]) for reference in references) == list(
        range(1, 21)
    )
    assert ReferenceCounter.objects.get().last == 20
    assert Incident.objects.count() == 20
    assert IncidentEvent.objects.filter(type="incident.created").count() == 20


def test_a_voice_webhook_retried_at_once_makes_one_call_and_one_incident(transactional_db):
    params = {"CallSid": "CArace0001", "From": "081234567890", "To": "112", "CallStatus": "ringing"}

    outcomes = race(10, lambda i: intake.receive_call(dict(params)))

    results, _losers = split(outcomes, ())
    assert len(results) == 10
    assert sum(created for _call, created in results) == 1
    call = Call.objects.get()
    assert {c.pk for c, _created in results} == {call.pk}
    assert {c.incident_id for c, _created in results} == {call.incident_id}
    assert Incident.objects.get().pk == call.incident_id
    assert IncidentEvent.objects.filter(type="call.created").count() == 1
    assert IncidentEvent.objects.filter(type="incident.created").count() == 1


def test_two_operators_dispatch_the_same_incident_once(transactional_db, cilegon):
    incident = fire_in_citangkil(category="TRAFFIC")  # POLRES, PSC119 and DISHUB
    operators = [make_user(f"op{i}", User.Role.OPERATOR) for i in range(2)]

    outcomes = race(2, lambda i: incidents.dispatch(incident.id, actor=operators[i]))

    winners, losers = split(outcomes, incidents.Conflict)
    assert len(winners) == 1
    assert len(losers) == 1
    assert sorted(a.agency.code for a in winners[0]) == ["DISHUB", "POLRES", "PSC119"]
    assignments = Assignment.objects.filter(incident=incident)
    assert sorted(assignments.values_list("agency__code", flat=True)) == [
        "DISHUB",
        "POLRES",
        "PSC119",
    ]
    assert IncidentEvent.objects.filter(type="incident.dispatched").count() == 1
    assert IncidentEvent.objects.filter(type="assignment.created").count() == 3
    assert set(Agency.objects.filter(assignments__isnull=False).values_list("code", flat=True)) == {
        "DISHUB",
        "POLRES",
        "PSC119",
    }
