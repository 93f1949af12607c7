"""A transaction's last statement sent with its COMMIT (`raw_inserts.fetch_one(last=True)`):
committed in that round trip when its `atomic` block is the outermost, never early inside
another transaction, and a COMMIT that fails leaves nothing and runs no on-commit callback.
Real transactions (transactional_db): what another connection sees is the proof."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg import pq

from calls import intake
from dispatch.models import Incident, IncidentEvent, ReferenceCounter
from dispatch.raw_inserts import fetch_one
from tests.calls.test_aml import place_call, send_aml
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

DAY = date(2001, 2, 3)  # a day no other row uses
COUNT_THE_DAY = "INSERT INTO dispatch_referencecounter (day, last) VALUES (%s, 41) RETURNING last"


def last_seen_by_another_connection():
    """The day's counter as a connection of another thread sees it (None: no committed row)."""
    seen = []

    def look():
        try:
            seen.append(
                ReferenceCounter.objects.filter(day=DAY).values_list("last", flat=True).first()
            )
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(30)
    return seen[0]


def test_an_outermost_transaction_is_committed_with_its_last_statement():
    ran = []
    with transaction.atomic():
        transaction.on_commit(lambda: ran.append("after commit"))
        assert fetch_one(COUNT_THE_DAY, [DAY], last=True) == (41,)
        assert last_seen_by_another_connection() == 41  # before the block has ended
        assert ran == []
    assert ran == ["after commit"]


def test_inside_an_enclosing_transaction_nothing_is_committed_early():
    with transaction.atomic():
        with transaction.atomic():
            fetch_one(COUNT_THE_DAY, [DAY], last=True)
        assert last_seen_by_another_connection() is None
        transaction.set_rollback(True)
    assert last_seen_by_another_connection() is None


# The day counted, and an event of an incident that does not exist: the statement passes (the
# foreign key is checked at commit), the COMMIT sent with it fails.
COUNT_THE_DAY_AND_FAIL_AT_COMMIT = """
WITH counted AS (
    INSERT INTO dispatch_referencecounter (day, last) VALUES (%s, 41) RETURNING last
)
INSERT INTO dispatch_incidentevent (type, at, incident_id, data)
SELECT 'incident.updated', now(), 999999999, '{}' FROM counted
RETURNING id
"""


def test_a_failing_commit_raises_in_the_block_and_keeps_nothing():
    ran = []
    with pytest.raises(IntegrityError), transaction.atomic():
        transaction.on_commit(lambda: ran.append("after commit"))
        fetch_one(COUNT_THE_DAY_AND_FAIL_AT_COMMIT, [DAY], last=True)
    assert ran == []
    assert last_seen_by_another_connection() is None
    assert not IncidentEvent.objects.filter(incident_id=999999999).exists()  # usable again


def test_a_new_call_is_committed_by_the_time_it_is_logged(cilegon, monkeypatch):
    """The intake's second statement (the day's counter, the incident, its events) carries the
    COMMIT: the counter's lock is released in that round trip."""
    status_when_logged = []

    def log(*args, **kwargs):
        status_when_logged.append(connection.connection.info.transaction_status)

    monkeypatch.setattr(intake.logger, "info", log)
    call, created = intake.receive_call({"CallSid": "CAcommitted", "From": "081234567890"})
    assert created
    assert status_when_logged == [pq.TransactionStatus.IDLE]
    incident = Incident.objects.get(pk=call.incident_id)
    assert incident.reference.endswith("-0001")
    assert list(incident.events.order_by("seq").values_list("type", flat=True)) == [
        "incident.created",
        "call.created",
    ]


@pytest.mark.usefixtures("cilegon")
def test_a_call_with_a_waiting_handset_position_is_placed_in_the_same_transaction(client):
    """Statements follow the incident's when an AML waits for the number: its COMMIT is then
    the block's own, after the position is applied."""
    send_aml(client)
    incident = place_call(client)
    incident.refresh_from_db()
    assert (incident.latitude, incident.location_source) == (Decimal("-6.0175"), "aml")
    timeline = list(incident.events.order_by("seq").values_list("type", flat=True))
    assert timeline == ["incident.created", "call.created", "incident.updated"]
    assert incident.created_at <= timezone.now()
