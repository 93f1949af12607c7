"""Notifications sent by escalation steps: one row per (assignment, step, channel, recipient),
the SMS text, delivery through the Twilio SDK (its http_client hook records the exact request),
retries scheduled on the row, and the API that shows them."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

import telephony
from agencies.models import Agency, Area, EscalationPolicy
from dispatch import escalation, incidents, notifications, tasks
from dispatch.models import Assignment, Incident, IncidentEvent, Notification
from tests.conftest import api_as
from tests.dispatch.helpers import API, KELURAHAN, new_incident, results
from tests.twilio_fake import ACCOUNT_SID, FROM_NUMBER, PUBLIC

pytestmark = pytest.mark.usefixtures("cilegon")

T0 = datetime(2026, 11, 10, 2, 0, 0, tzinfo=UTC)
DPKP_PHONE = "+62254377113"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"

SMS_STEP = {"after_seconds": 120, "action": "sms_agency"}
CALL_STEP = {"after_seconds": 300, "action": "call_agency"}


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def twilio_error(status, code=20500, message="Internal Server Error"):
    return {"code": code, "message": message, "more_info": "https://twilio.com", "status": status}


@pytest.fixture
def enqueued(monkeypatch):
    """What would go to the broker: the ids `send_notification.delay` was called with."""
    sent = []
    monkeypatch.setattr(tasks.send_notification, "delay", sent.append)
    return sent


def give_policy(agency_code, steps):
    agency = Agency.objects.get(code=agency_code)
    agency.escalation_policy = EscalationPolicy.objects.create(
        name=f"test-{agency_code}-{EscalationPolicy.objects.count()}", steps=steps
    )
    agency.save()
    return agency


def dispatched(agency_code="DPKP", steps=(SMS_STEP,), area=KELURAHAN, category="FIRE"):
    give_policy(agency_code, list(steps))
    with time_machine.travel(T0, tick=False):
        incident = new_incident(category, area)
        [assignment] = incidents.dispatch(
            incident.pk, actor=None, agencies=[Agency.objects.get(code=agency_code)]
        )
    return assignment


def sweep(seconds):
    with time_machine.travel(at(seconds), tick=False):
        return escalation.run_due()


def fire(seconds, django_capture_on_commit_callbacks):
    """Sweep at T0 + seconds and run what the commit would (the enqueue)."""
    with django_capture_on_commit_callbacks(execute=True):
        fired = sweep(seconds)
    return fired


def deliver_at(seconds, notification):
    with time_machine.travel(at(seconds), tick=False):
        notifications.deliver(notification.id)
    notification.refresh_from_db()
    return notification


def events_of(prefix):
    return list(IncidentEvent.objects.filter(type__startswith=prefix).order_by("id"))


# --- rows -------------------------------------------------------------------------------------


def test_one_row_per_assignment_step_channel_and_recipient(
    django_capture_on_commit_callbacks, enqueued
):
    assignment = dispatched()
    assert fire(130, django_capture_on_commit_callbacks) == 1
    [row] = Notification.objects.all()
    assert (row.assignment_id, row.step, row.channel, row.recipient) == (
        assignment.id,
        0,
        "sms",
        DPKP_PHONE,
    )
    assert row.status == "queued"
    assert enqueued == [row.id]

    # The same step asked again (a retried sweep) gives the same row and sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        [again] = notifications.create_many(
            [notifications.external(assignment, 0, "sms", "ignored")]
        )
    assert again.id == row.id
    assert again.body == row.body
    assert enqueued == [row.id]

    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            assignment=assignment, step=0, channel="sms", recipient=DPKP_PHONE
        )
    # Another step, channel or recipient is another row.
    Notification.objects.create(assignment=assignment, step=1, channel="sms", recipient=DPKP_PHONE)
    Notification.objects.create(
        assignment=assignment, step=0, channel="voice", recipient=DPKP_PHONE
    )
    Notification.objects.create(assignment=assignment, step=0, channel="sms", recipient="+6281")
    assert Notification.objects.count() == 4


def test_a_queued_notification_is_enqueued_only_after_the_step_commits(
    django_capture_on_commit_callbacks, enqueued
):
    dispatched()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sweep(120)
    assert enqueued == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert enqueued == [Notification.objects.get().id]


def test_the_step_still_fires_when_the_broker_is_down(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(notification_id):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.send_notification, "delay", broker_down)
    dispatched()
    with caplog.at_level(logging.WARNING, logger="dispatch.notifications"):
        assert fire(120, django_capture_on_commit_callbacks) == 1
    assert Notification.objects.get().status == "queued"  # the sweep sends it later
    assert "could not enqueue" in caplog.text


def test_sms_text_is_indonesian_with_reference_category_place_age_and_link(
    settings, django_capture_on_commit_callbacks, enqueued
):
    settings.PUBLIC_BASE_URL = PUBLIC
    assignment = dispatched()
    fire(179, django_capture_on_commit_callbacks)  # 2 min 59 s after dispatch
    row = Notification.objects.get()
    reference = assignment.incident.reference
    kelurahan = Area.objects.get(code=KELURAHAN)
    assert row.body == (
        f"[112 {settings.CITY_NAME}] {reference} Kebakaran di Kel. {kelurahan.name}, "
        f"Kec. {kelurahan.parent.name}. Belum diterima DPKP sejak 2 menit. "
        f"Terima: {PUBLIC}/?assignment={assignment.id}"
    )
    assert "Kec. Citangkil" in row.body


def test_sms_text_for_a_kecamatan_or_no_place_and_a_first_minute(
    django_capture_on_commit_callbacks, enqueued
):
    early = [{"after_seconds": 5, "action": "sms_agency"}]
    on_kecamatan = dispatched(steps=early, area="36.72.08", category="MEDICAL")
    fire(5, django_capture_on_commit_callbacks)
    body = Notification.objects.get(assignment=on_kecamatan).body
    assert " Kegawatdaruratan medis di Kec. Citangkil. " in body
    assert "sejak 1 menit" in body  # never "0 menit"
    assert body.endswith(f"/?assignment={on_kecamatan.id}")

    nowhere = dispatched(steps=early, area=None, category=None)
    fire(5, django_capture_on_commit_callbacks)
    assert " Kejadian di lokasi belum diisi. " in Notification.objects.get(assignment=nowhere).body


@pytest.mark.parametrize("step", [SMS_STEP, CALL_STEP], ids=["sms", "voice"])
def test_an_agency_without_a_phone_gets_a_failed_row_with_an_error(
    step, django_capture_on_commit_callbacks, enqueued
):
    assignment = dispatched("PSC119", steps=[step], category="MEDICAL")
    assert fire(step["after_seconds"], django_capture_on_commit_callbacks) == 1
    row = Notification.objects.get(assignment=assignment)
    assert row.status == "failed"
    assert row.recipient == ""
    assert row.error == "Instansi belum memiliki nomor telepon piket."  # the console language
    assert enqueued == []
    [event] = events_of("escalation.")
    assert event.data["notifications"][0]["status"] == "failed"
    assert event.data["notifications"][0]["error"] == row.error


# --- delivery through Twilio ---------------------------------------------------------------


def queued_row(django_capture_on_commit_callbacks, step=SMS_STEP):
    dispatched(steps=[step])
    fire(step["after_seconds"], django_capture_on_commit_callbacks)
    return Notification.objects.get()


def test_sms_goes_to_twilios_messages_resource(
    twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks)
    twilio.answer(201, {"sid": "SM" + "a" * 32, "status": "queued"})

    row = deliver_at(121, row)
    assert twilio.requests == [
        ("POST", MESSAGES_URL, {"To": DPKP_PHONE, "From": FROM_NUMBER, "Body": row.body})
    ]
    assert twilio.auth == (ACCOUNT_SID, telephony.settings.TWILIO_AUTH_TOKEN)
    assert row.status == "sent"
    assert row.provider_id == "SM" + "a" * 32
    assert row.attempts == 1
    assert row.sent_at == at(121)
    assert row.error == ""
    [event] = events_of("notification.")
    assert event.type == "notification.sent"
    assert event.data["notification"]["provider_id"] == row.provider_id
    assert event.agency.code == "DPKP"

    deliver_at(122, row)  # delivered already: a redelivered task does nothing
    assert len(twilio.requests) == 1


def test_the_duty_call_goes_to_twilios_calls_resource_with_the_twiml_url(
    twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks, CALL_STEP)
    assert row.channel == "voice"
    twilio.answer(201, {"sid": "CA" + "b" * 32, "status": "queued"})

    row = deliver_at(301, row)
    assert twilio.requests == [
        (
            "POST",
            CALLS_URL,
            {
                "To": DPKP_PHONE,
                "From": FROM_NUMBER,
                "Url": f"{PUBLIC}/calls/twilio/duty/{row.id}/",
                "Method": "POST",
            },
        )
    ]
    assert (row.status, row.provider_id) == ("sent", "CA" + "b" * 32)


def test_a_call_without_public_base_url_fails_without_reaching_twilio(
    twilio, settings, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks, CALL_STEP)
    settings.PUBLIC_BASE_URL = ""
    row = deliver_at(301, row)
    assert twilio.requests == []
    assert row.status == "failed"
    assert "PUBLIC_BASE_URL" in row.error


def test_missing_twilio_configuration_fails_the_row(
    twilio, settings, django_capture_on_commit_callbacks, enqueued
):
    settings.TWILIO_FROM_NUMBER = ""
    row = deliver_at(121, queued_row(django_capture_on_commit_callbacks))
    assert twilio.requests == []
    assert (row.status, row.attempts) == ("failed", 1)
    assert "TWILIO_FROM_NUMBER" in row.error


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_transient_twilio_error_schedules_a_retry(
    status, twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks)
    twilio.answer(status, twilio_error(status))

    row = deliver_at(121, row)
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.next_attempt_at == at(121) + notifications.backoff(1)
    assert row.next_attempt_at == at(131)
    assert f"Twilio {status}" in row.error
    [event] = events_of("notification.")
    assert event.type == "notification.retrying"
    assert event.data["notification"]["attempts"] == 1
    assert [e.type for e in events_of("escalation.")] == ["escalation.triggered"]

    # Not before its time, even when the task is delivered again early.
    row = deliver_at(130, row)
    assert (row.status, row.attempts, len(twilio.requests)) == ("queued", 1, 1)

    twilio.answer(201, {"sid": "SM" + "c" * 32})
    row = deliver_at(131, row)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 2, "SM" + "c" * 32)
    assert row.error == ""
    assert [e.type for e in events_of("notification.")] == [
        "notification.retrying",
        "notification.sent",
    ]


def test_a_network_error_is_transient_too(twilio, django_capture_on_commit_callbacks, enqueued):
    row = queued_row(django_capture_on_commit_callbacks)
    twilio.answer(0, ConnectionError("connection reset"))
    row = deliver_at(121, row)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "connection reset" in row.error


def test_an_unreadable_answer_counts_as_a_failed_attempt(
    twilio, django_capture_on_commit_callbacks, enqueued, caplog
):
    """A 2xx whose body is not Twilio's JSON (a proxy's error page): the row is not left in
    `sending` (where it would be rescued and retried forever, uncounted)."""
    row = queued_row(django_capture_on_commit_callbacks)
    twilio.answer(200, "<html>Bad gateway</html>")
    with caplog.at_level(logging.ERROR, logger="dispatch.notifications"):
        row = deliver_at(121, row)
    assert (row.status, row.attempts, row.next_attempt_at) == ("queued", 1, at(131))
    assert "JSONDecodeError" in row.error
    assert "failed unexpectedly" in caplog.text
    for attempt in range(2, notifications.MAX_ATTEMPTS + 1):
        twilio.answer(200, "<html>Bad gateway</html>")
        row = deliver_at((row.next_attempt_at - T0).total_seconds(), row)
        assert row.attempts == attempt
    assert row.status == "failed"


def test_after_max_attempts_transient_failures_the_row_fails(
    twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks)
    moment = 121
    for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
        twilio.answer(503, twilio_error(503, message="Service Unavailable"))
        row = deliver_at(moment, row)
        assert row.attempts == attempt
        if attempt < notifications.MAX_ATTEMPTS:
            assert row.status == "queued"
            assert row.next_attempt_at == at(moment) + notifications.backoff(attempt)
            moment = (row.next_attempt_at - T0).total_seconds()
    assert row.status == "failed"
    assert "503" in row.error
    assert len(twilio.requests) == notifications.MAX_ATTEMPTS
    backoffs = [notifications.backoff(n).total_seconds() for n in range(1, 5)]
    assert backoffs == [10, 30, 90, 270]
    assert [e.type for e in events_of("notification.")] == ["notification.retrying"] * (
        notifications.MAX_ATTEMPTS - 1
    ) + ["notification.failed"]

    deliver_at(100_000, row)  # failed is final
    assert len(twilio.requests) == notifications.MAX_ATTEMPTS


def test_a_4xx_from_twilio_fails_at_once(twilio, django_capture_on_commit_callbacks, enqueued):
    row = queued_row(django_capture_on_commit_callbacks)
    twilio.answer(400, twilio_error(400, 21211, "The 'To' number is not a valid phone number."))
    row = deliver_at(121, row)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert "Twilio 400" in row.error
    assert "not a valid phone number" in row.error
    [event] = events_of("notification.")
    assert event.type == "notification.failed"
    assert event.data["notification"]["status"] == "failed"


def test_deliver_does_nothing_for_a_row_another_worker_claimed(
    twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks)
    with time_machine.travel(at(121), tick=False):
        assert notifications.claim(row.id)  # "another worker"
        assert not notifications.claim(row.id)
    row = deliver_at(121, row)
    assert twilio.requests == []
    assert (row.status, row.attempts) == ("sending", 1)  # the other worker's attempt only
    assert events_of("notification.") == []


# --- the sweep's side: due retries and lost sends ---------------------------------------------


def test_requeue_due_enqueues_due_retries_and_rescues_stale_sends(
    django_capture_on_commit_callbacks, enqueued
):
    assignment = dispatched(steps=[SMS_STEP, CALL_STEP])
    fire(300, django_capture_on_commit_callbacks)
    sms, call = Notification.objects.order_by("step")
    enqueued.clear()
    now = at(1000)

    def make(row, **fields):
        Notification.objects.filter(id=row.id).update(**fields)

    # A retry scheduled by a failed attempt (at T0 + 990) that is not due yet; a send that a
    # worker claimed but that is not stale yet.
    make(sms, attempts=1, updated_at=at(990), next_attempt_at=now + timedelta(seconds=1))
    make(
        call, status="sending", updated_at=now - notifications.STALE_SENDING + timedelta(seconds=1)
    )
    notifications.requeue_due(now)
    assert enqueued == []

    make(sms, next_attempt_at=now)
    make(call, updated_at=now - notifications.STALE_SENDING - timedelta(seconds=1))
    done = Notification.objects.create(
        assignment=assignment, step=9, channel="sms", recipient=DPKP_PHONE, status="sent"
    )
    notifications.requeue_due(now)
    assert sorted(enqueued) == sorted([sms.id, call.id])
    call.refresh_from_db()
    assert (call.status, call.next_attempt_at) == ("queued", now)
    done.refresh_from_db()
    assert done.status == "sent"

    # Enqueued once: the next sweeps leave the task in the queue alone …
    notifications.requeue_due(now + timedelta(seconds=2))
    notifications.requeue_due(now + notifications.ENQUEUE_LEASE)
    assert len(enqueued) == 2
    # … until it has sat there for the whole lease: then its task was lost; send another.
    notifications.requeue_due(now + notifications.ENQUEUE_LEASE + timedelta(seconds=1))
    assert sorted(enqueued) == sorted([sms.id, call.id] * 2)

    # The rescued send goes out (again) when its task runs.
    with time_machine.travel(now + timedelta(seconds=40), tick=False):
        notifications.deliver(call.id)
    call.refresh_from_db()
    assert (call.status, call.attempts) == ("sent", 1)


def test_a_fresh_row_is_enqueued_at_commit_and_by_the_sweep_only_when_that_was_lost(
    django_capture_on_commit_callbacks, enqueued
):
    dispatched(steps=[SMS_STEP])
    fire(120, django_capture_on_commit_callbacks)
    row = Notification.objects.get()
    assert enqueued == [row.id]
    for seconds in (0, 2, 30):
        notifications.requeue_due(at(120 + seconds))
    assert enqueued == [row.id]
    notifications.requeue_due(at(151))  # the broker lost it (or was down at commit)
    assert enqueued == [row.id, row.id]


def test_a_failed_attempt_is_enqueued_by_the_sweep_once_its_retry_is_due(
    twilio, django_capture_on_commit_callbacks, enqueued
):
    row = queued_row(django_capture_on_commit_callbacks)
    enqueued.clear()
    twilio.answer(500, twilio_error(500))
    row = deliver_at(121, row)
    notifications.requeue_due(at(130))
    assert enqueued == []
    notifications.requeue_due(at(131))
    notifications.requeue_due(at(133))
    assert enqueued == [row.id]


def test_the_sweep_task_fires_steps_and_requeues_due_retries(
    django_capture_on_commit_callbacks, enqueued
):
    dispatched(steps=[SMS_STEP])
    with (
        time_machine.travel(at(120), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.sweep() == 1
    row = Notification.objects.get()
    assert enqueued == [row.id]  # after commit
    Notification.objects.filter(id=row.id).update(attempts=1, next_attempt_at=at(200))
    with time_machine.travel(at(199), tick=False):
        assert tasks.sweep() == 0
    assert enqueued == [row.id]
    with time_machine.travel(at(200), tick=False):
        tasks.sweep()
    assert enqueued == [row.id, row.id]


def test_the_send_task_delivers(django_capture_on_commit_callbacks, enqueued):
    row = queued_row(django_capture_on_commit_callbacks)
    with time_machine.travel(at(121), tick=False):
        tasks.send_notification(row.id)  # the console gateway
    row.refresh_from_db()
    assert row.status == "sent"
    assert row.provider_id.startswith("console-")


# --- the API ----------------------------------------------------------------------------------


def escalated_pair(django_capture_on_commit_callbacks):
    """A DPKP assignment escalated by an SMS and a PSC119 one escalated on the console."""
    dpkp = dispatched("DPKP", steps=[SMS_STEP])
    psc = dispatched("PSC119", steps=[{"after_seconds": 60, "action": "notify_agency"}])
    quiet = dispatched("POLRES", steps=[{"after_seconds": 9999, "action": "notify_agency"}])
    fire(120, django_capture_on_commit_callbacks)
    return dpkp, psc, quiet


def test_notifications_api_lists_an_assignments_notifications_per_visibility(
    operator, dpkp_staff, psc_staff, django_capture_on_commit_callbacks, enqueued
):
    dpkp, psc, _quiet = escalated_pair(django_capture_on_commit_callbacks)
    url = f"{API}/notifications/?assignment={dpkp.id}"

    [row] = results(api_as(operator).get(url))
    assert row["assignment"] == dpkp.id
    assert row["agency"] == "DPKP"
    assert (row["step"], row["channel"], row["recipient"]) == (0, "sms", DPKP_PHONE)
    assert row["status"] == "queued"

    assert [r["id"] for r in results(api_as(dpkp_staff).get(url))] == [row["id"]]
    assert results(api_as(psc_staff).get(url)) == []  # another agency's
    assert [r["assignment"] for r in results(api_as(psc_staff).get(f"{API}/notifications/"))] == [
        psc.id
    ]
    assert len(results(api_as(operator).get(f"{API}/notifications/"))) == 2
    assert api_as(None).get(url).status_code in (401, 403)
    assert api_as(operator).get(f"{API}/notifications/?assignment=x").status_code == 400


def test_assignments_api_filters_the_escalated(
    operator, psc_staff, django_capture_on_commit_callbacks, enqueued
):
    dpkp, psc, quiet = escalated_pair(django_capture_on_commit_callbacks)
    escalated = results(api_as(operator).get(f"{API}/assignments/?escalated=1"))
    assert sorted(a["id"] for a in escalated) == sorted([dpkp.id, psc.id])
    assert all(a["escalation_level"] == 1 for a in escalated)
    everything = results(api_as(operator).get(f"{API}/assignments/"))
    assert quiet.id in [a["id"] for a in everything]
    assert [a["id"] for a in results(api_as(psc_staff).get(f"{API}/assignments/?escalated=1"))] == [
        psc.id
    ]
    assert Assignment.objects.get(id=quiet.id).escalation_level == 0


def test_assignments_api_filters_by_the_incidents_status(
    operator, django_capture_on_commit_callbacks, enqueued
):
    """What the escalations panel asks for besides the pending: the cancelled assignments
    whose incident is still new (taken back, waiting for a new dispatch), not every cancelled
    one in history."""
    dpkp, psc, _quiet = escalated_pair(django_capture_on_commit_callbacks)
    Incident.objects.filter(pk=dpkp.incident_id).update(status=Incident.Status.NEW)
    Assignment.objects.filter(pk__in=[dpkp.pk, psc.pk]).update(status=Assignment.Status.CANCELLED)
    taken_back = f"{API}/assignments/?escalated=1&status=cancelled&incident_status=new"

    assert [a["id"] for a in results(api_as(operator).get(taken_back))] == [dpkp.id]
    both = f"{API}/assignments/?escalated=1&incident_status=new,dispatched"
    assert sorted(a["id"] for a in results(api_as(operator).get(both))) == sorted([dpkp.id, psc.id])
    response = api_as(operator).get(f"{API}/assignments/?incident_status=opened")
    assert response.status_code == 400
    assert "incident_status" in response.json()
