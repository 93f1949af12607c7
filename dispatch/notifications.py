"""Notifications sent by escalation steps: one row per (assignment, step, channel, recipient).

Console alerts are delivered by the escalation event itself, so their row is born `sent`. SMS
and voice rows are born `queued` and a Celery task sends them after commit. The row is the
retry schedule too: a transient failure sets `next_attempt_at` with backoff and the beat sweep
sends it again then — nothing waits in Redis, so a restart loses no retry. The timeline gets a
`notification.sent` / `notification.failed` entry (never a further `escalation…` event).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext

import telephony
from dispatch import events
from dispatch.models import Notification
from dispatch.payloads import NotificationSerializer

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A send that was claimed but never reported back (a worker killed mid-send) is retried after
# this long. The provider may then deliver twice; for an alarm that is the better failure.
STALE_SENDING = timedelta(minutes=5)
# A queued row the sweep (or the commit) has enqueued is not enqueued again before this.
ENQUEUE_LEASE = timedelta(seconds=30)
# A row to send now (`notification_id`); dispatch.signals gives it to a Celery worker.
queued = Signal()

Status = Notification.Status


def backoff(attempts):
    return timedelta(seconds=10 * 3 ** (attempts - 1))  # 10 s, 30 s, 90 s, 270 s


def summary(notification):
    """The notification as the API shows it, for timeline events."""
    return NotificationSerializer(notification).data


def console(assignment, step, recipient):
    """A console alert (unsaved; `create_many` writes it): the escalation event carries it, so
    it is born sent."""
    return Notification(
        assignment=assignment,
        step=step,
        channel=Notification.Channel.CONSOLE,
        recipient=recipient,
        status=Status.SENT,
        sent_at=timezone.now(),
    )


def external(assignment, step, channel, body):
    """An SMS or a call to the agency's duty phone (unsaved; `create_many` writes it and sends
    it once the step commits). Without a duty phone it is born failed."""
    phone = assignment.agency.phone
    notification = Notification(
        assignment=assignment, step=step, channel=channel, recipient=phone, body=body
    )
    if not phone:
        notification.status = Status.FAILED
        notification.error = gettext("The agency has no duty phone number.")
        logger.warning(
            "escalation step %s of assignment %s: %s has no duty phone",
            step,
            assignment.id,
            assignment.agency.code,
        )
    return notification


UNIQUE_KEY = ("assignment_id", "step", "channel", "recipient")


def key(notification):
    """The row's unique key, in plain values (a Channel member hashes unlike its string)."""
    return (
        notification.assignment_id,
        notification.step,
        str(notification.channel),
        notification.recipient,
    )


def create_many(rows):
    """Write new rows with one `INSERT … ON CONFLICT DO NOTHING` and return them saved, in
    order. A row that was already there (the same step of the same assignment asked again) is
    returned as stored and sent no second time. Queued rows go to a worker after the commit."""
    if not rows:
        return []
    created = insert_ignoring_duplicates(rows)
    existing = stored_duplicates([row for row in rows if key(row) not in created])
    saved = []
    for row in rows:
        if key(row) in created:
            row.id = created[key(row)]
            row._state.adding, row._state.db = False, connection.alias
        else:
            existing[key(row)].assignment = row.assignment  # in hand, with its agency
            row = existing[key(row)]
        saved.append(row)
    queued = [row.id for row in rows if key(row) in created and row.status == Status.QUEUED]
    if queued:
        transaction.on_commit(lambda: [enqueue(notification_id) for notification_id in queued])
    return saved


def insert_ignoring_duplicates(rows):
    """{unique key: id} of the rows this INSERT created. Plain SQL because Django's
    `bulk_create(ignore_conflicts=True)` does not say which rows it wrote; PostgreSQL and
    SQLite (3.35+) both take this statement."""
    fields = [field for field in Notification._meta.concrete_fields if not field.primary_key]
    params = [
        field.get_db_prep_save(field.pre_save(row, add=True), connection)
        for row in rows
        for field in fields
    ]
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    returning = ", ".join(
        quote(Notification._meta.get_field(n).column) for n in ("id", *UNIQUE_KEY)
    )
    # Only the model's own table and column names are formatted in; every value is a parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING"  # noqa: S608
    sql += f" RETURNING {returning}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(found[1:]): found[0] for found in cursor.fetchall()}


def stored_duplicates(rows):
    if not rows:
        return {}
    stored = Notification.objects.filter(
        assignment_id__in={row.assignment_id for row in rows}, step__in={row.step for row in rows}
    )
    return {key(row): row for row in stored}


def enqueue(notification_id):
    # A signal, not an import of dispatch.tasks: the tasks call this module (one way), and
    # dispatch.signals hands the row to a worker.
    try:
        queued.send(sender=Notification, notification_id=notification_id)
    except Exception:
        # The broker is down: the row stays queued and the sweep sends it when it can.
        logger.warning("could not enqueue notification %s", notification_id, exc_info=True)


def claim(notification_id):
    """Move a queued row to `sending` and count the attempt now, so a worker that dies in the
    middle of every send still runs out of attempts. False when another worker has the row or
    it is done."""
    now = timezone.now()
    return bool(
        Notification.objects.filter(id=notification_id, status=Status.QUEUED)
        .exclude(next_attempt_at__gt=now)
        .update(status=Status.SENDING, attempts=F("attempts") + 1, updated_at=now)
    )


def voice_url(notification):
    return f"{settings.PUBLIC_BASE_URL}/calls/twilio/duty/{notification.id}/"


def send(notification):
    if notification.channel == Notification.Channel.SMS:
        return telephony.sms_gateway().send_sms(notification.recipient, notification.body)
    gateway = telephony.gateway()
    if gateway.name == "twilio" and not settings.PUBLIC_BASE_URL:
        raise telephony.PermanentSendError("PUBLIC_BASE_URL is required to place calls")
    return gateway.place_call(notification.recipient, voice_url(notification))


def deliver(notification_id):
    """Send one queued notification and record the outcome. The provider is called outside
    any transaction: a slow network never holds a lock."""
    if not claim(notification_id):
        return
    notification = Notification.objects.select_related(
        "assignment__incident", "assignment__agency"
    ).get(id=notification_id)
    try:
        notification.provider_id = send(notification)
    except telephony.TransientSendError as error:
        finish(notification, retry=notification.attempts < MAX_ATTEMPTS, error=str(error))
    except telephony.PermanentSendError as error:
        finish(notification, retry=False, error=str(error))
    except Exception as error:
        # Anything else (an unreadable provider answer, a gateway bug) still counts as an
        # attempt: left in `sending`, the row would be rescued and retried forever, uncounted.
        logger.exception("sending notification %s failed unexpectedly", notification.id)
        finish(
            notification,
            retry=notification.attempts < MAX_ATTEMPTS,
            error=f"{type(error).__name__}: {error}",
        )
    else:
        finish(notification, retry=False, error="")


@transaction.atomic
def finish(notification, *, retry, error):
    now = timezone.now()
    notification.error = error
    if not error:
        notification.status, notification.sent_at = Status.SENT, now
    elif retry:
        notification.status = Status.QUEUED
        notification.next_attempt_at = now + backoff(notification.attempts)
    else:
        notification.status = Status.FAILED
    notification.save()
    assignment = notification.assignment
    event_type = {
        Status.SENT: "notification.sent",
        Status.FAILED: "notification.failed",
        Status.QUEUED: "notification.retrying",
    }[notification.status]
    events.record(
        event_type,
        incident=assignment.incident,
        agency=assignment.agency,
        data={"notification": summary(notification)},
    )
    logger.log(
        logging.WARNING if notification.status == Status.FAILED else logging.INFO,
        "%s notification %s of assignment %s: %s",
        notification.channel,
        notification.id,
        assignment.id,
        notification.status,
        extra={"incident": assignment.incident.reference},
    )


def requeue_due(now):
    """From the beat sweep: send retries that are due, and rescue sends lost with a worker.

    A row is enqueued here once when its retry falls due, and again only if it then sits queued
    for ENQUEUE_LEASE (its task was lost with Redis, or the broker was down at commit). Without
    the lease every two-second sweep would add one more task per waiting row (a fresh row is
    already enqueued at commit) and a backlog would snowball; `claim` keeps the extra tasks from
    sending twice, but not from flooding the queue."""
    # The rescued row keeps its old updated_at, so the selection below enqueues it at once.
    Notification.objects.filter(status=Status.SENDING, updated_at__lt=now - STALE_SENDING).update(
        status=Status.QUEUED, next_attempt_at=now
    )
    due = Notification.objects.filter(status=Status.QUEUED).filter(
        Q(next_attempt_at__lte=now, updated_at__lt=F("next_attempt_at"))
        | (Q(updated_at__lt=now - ENQUEUE_LEASE) & ~Q(next_attempt_at__gt=now))
    )
    ids = list(due.order_by("id").values_list("id", flat=True)[:500])
    Notification.objects.filter(id__in=ids, status=Status.QUEUED).update(updated_at=now)  # lease
    for notification_id in ids:
        enqueue(notification_id)
