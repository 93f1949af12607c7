"""CONTRACT §7: the replay never skips. Once `GET /api/v1/events/?after=` has returned seq n, no
event with a seq ≤ n appears later — also when a transaction that inserted its event early
commits after one that inserted later. Real PostgreSQL transactions on separate connections."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from agencies.models import Agency, EscalationPolicy
from calls import intake
from dispatch import escalation, events, incidents
from dispatch.models import IncidentEvent
from tests.conftest import api_as, requires_postgres
from tests.dispatch.helpers import new_incident

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def replay(client, after):
    response = client.get(f"/api/v1/events/?after={after}&page_size=500")
    assert response.status_code == 200
    return [envelope["seq"] for envelope in response.json()["results"]]


class Follower:
    """What a console or an integration does: poll the replay, move its cursor to the last seq
    it got, and keep everything it saw."""

    def __init__(self, user):
        self.client = api_as(user)
        self.seen = []
        self.after = 0

    def poll(self):
        got = replay(self.client, self.after)
        self.seen.extend(got)
        if got:
            self.after = got[-1]
        return got


def test_a_slow_transaction_is_not_passed_over(operator):
    """The early inserter commits last: under id-as-seq its event came out below the cursor."""
    follower = Follower(operator)
    inserted, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                events.record("incident.updated", data={"who": "slow"})
                inserted.set()
                release.wait(10)
        finally:
            close_old_connections()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(10)
    with transaction.atomic():
        events.record("incident.updated", data={"who": "fast"})
    follower.poll()  # sees the fast one; its seq is the cursor now
    release.set()
    thread.join()
    follower.poll()
    every = list(IncidentEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert follower.seen == every
    assert [e.data["who"] for e in IncidentEvent.objects.order_by("seq")] == ["fast", "slow"]


def overdue_assignments(count):
    """`count` DPKP assignments whose first escalation step is due."""
    agency = Agency.objects.get(code="DPKP")
    agency.escalation_policy = EscalationPolicy.objects.create(
        name="burst", steps=[{"after_seconds": 60, "action": "notify_supervisors"}]
    )
    agency.save()
    for _ in range(count):
        incident = new_incident("FIRE")
        incidents.dispatch(incident.pk, actor=None, agencies=[agency])


def test_a_follower_during_webhooks_and_an_escalation_burst_gets_every_event(operator, cilegon):
    """Callers and two sweepers committing at once while a follower polls: nothing is lost,
    nothing comes twice."""
    overdue_assignments(40)
    follower = Follower(operator)
    stop = threading.Event()
    later = timezone.now() + timedelta(seconds=90)

    def sweeper():
        try:
            escalation.run_due(now=later, batch_size=5)
        finally:
            close_old_connections()

    def caller(n):
        try:
            for k in range(15):
                intake.receive_call({"CallSid": f"CAfollow{n}-{k}", "From": f"0812000{n:05d}"})
        finally:
            close_old_connections()

    def poller():
        try:
            while not stop.is_set():
                follower.poll()
        finally:
            close_old_connections()

    watcher = threading.Thread(target=poller)
    watcher.start()
    writers = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    writers += [threading.Thread(target=sweeper) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    watcher.join()
    follower.poll()
    every = list(IncidentEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert IncidentEvent.objects.filter(type="call.created").count() == 6 * 15
    assert IncidentEvent.objects.filter(type="escalation.triggered").count() == 40
    assert follower.seen == every


def test_seqs_are_given_at_commit_in_commit_order():
    with transaction.atomic():
        first = events.record("incident.updated", data={})
        second = events.record("incident.updated", data={})
        # Inside the transaction its own events are in order, above every committed seq.
        assert first.seq < second.seq
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.seq == first.seq + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM dispatch_incidentevent")
        assert cursor.fetchone()[0] == second.seq
