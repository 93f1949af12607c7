"""From a Twilio request to records: the call, its incident, their timeline events.

Everything here is idempotent on the CallSid, because Twilio retries, and tolerant of status
callbacks that come late, twice or out of order.
"""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agencies.phones import to_e164_or_raw
from calls import aml
from calls.history import HISTORY_DAYS
from calls.models import (
    CALL_STATUS_RANK,
    FINAL_CALL_STATUSES,
    TEXT_MAX_LENGTH,
    Call,
    HandsetLocation,
    Message,
)
from calls.serializers import CallSerializer, MessageSerializer
from calls.twilio_params import parse_timestamp
from dispatch import events
from dispatch.incidents import (
    change_status,
    locked_incident,
    numbered_incident_statement,
    numbered_incident_written,
    open_incident,
    open_numbered_incident,
    set_handset_location,
)
from dispatch.loop_database import run_in_transaction
from dispatch.models import Incident
from dispatch.raw_inserts import fetch_one, insert_columns, mark_saved
from dispatch.serialized import serialized

logger = logging.getLogger(__name__)


def call_data(call):
    return {"call": serialized(CallSerializer, call)}


def record_call_event(event_type, call, actor=None):
    return events.record(event_type, incident=call.incident, actor=actor, data=call_data(call))


def record_message_event(event_type, message, actor=None):
    """A text's timeline event. Its type starts `incident.` because a conversation is the
    whole incident's: the agencies holding the incident see it too (dispatch.visibility)."""
    return events.record(
        event_type,
        incident=message.incident,
        actor=actor,
        data={"message": MessageSerializer(message).data},
    )


def log_context(call):
    """`extra` for log lines about a call (JSON logs carry them; config.logformat)."""
    return {"incident": call.incident.reference if call.incident_id else "", "call_sid": call.sid}


def twilio_time(params):
    """Twilio's `Timestamp` when present and sane, else now."""
    return parse_timestamp(params.get("Timestamp")) or timezone.now()


@transaction.atomic
def receive_call(params, channel=Call.Channel.VOICE):
    """Record a call and open its incident. Returns `(call, created)`. A retried webhook, or a
    status callback that came first, finds the call and only adds what is missing."""
    call = new_call(params, channel)
    if connection.vendor == "postgresql" and insert_new_call(call):
        open_incident_of_new_call(call)
        return call, True
    call, created = Call.objects.select_for_update().get_or_create(
        sid=call.sid, defaults={name: getattr(call, name) for name in NEW_CALL_FIELDS}
    )
    if call.incident_id is None:
        incident = open_incident(caller_phone=call.from_number, call=call)
        record_call_event("call.created", call)
        apply_pending_locations(incident, call.from_number)
        log_new_call(call)
    return call, created


NEW_CALL_FIELDS = ("channel", "from_number", "to_number", "status", "started_at", "queue_state")


def new_call(params, channel):
    """The call a webhook reports, not yet saved."""
    return Call(
        sid=params["CallSid"],
        channel=channel,
        from_number=to_e164_or_raw(params.get("From", "")),
        to_number=to_e164_or_raw(params.get("To", "")),
        status=params.get("CallStatus") or "ringing",
        started_at=timezone.now(),
        queue_state=Call.QueueState.WAITING if channel == Call.Channel.VOICE else None,
    )


def insert_new_call(call):
    """Insert the call unless its sid is known, in one statement (PostgreSQL): `ON CONFLICT
    DO NOTHING`, so a concurrent twin waits for the first to commit and then inserts nothing.
    The new row gets its incident's id already (drawn from the incidents' sequence; the
    foreign key is checked at commit), and the same statement reads the caller's history and
    whether a handset position waits for the number. Returns whether the call was new."""
    return took_new_call(call, fetch_one(*new_call_statement(call)))


def new_call_statement(call):
    """`insert_new_call`'s statement and its parameters."""
    columns, values = insert_columns(call, skip=("id", "incident"))
    now = timezone.now()
    sql = NEW_CALL_SQL.format(
        call_table=Call._meta.db_table,
        columns=", ".join(columns),
        values=", ".join(["%s"] * len(columns)),
        incident_table=Incident._meta.db_table,
        location_table=HandsetLocation._meta.db_table,
    )
    params = [
        *values,
        call.from_number,
        now - PENDING_LOCATION_WINDOW,
        Call.Classification.PRANK,
        call.from_number,
        Call.Direction.INBOUND,
        now - timedelta(days=HISTORY_DAYS),
    ]
    return sql, params


def took_new_call(call, row):
    """The call as `new_call_statement`'s row says it was written; False if it was not (its
    sid is known)."""
    if row is None:
        return False
    call.id, call.incident_id = row[:2]
    call.history_calls, call.history_pranks, call.history_last = row[2:5]
    call.has_pending_location = row[5]
    mark_saved(call)
    return True


# The history subquery mirrors calls.history.caller_history for an inbound call: the new row
# is not in the statement's snapshot, so it is left out as that function leaves it out.
NEW_CALL_SQL = """
WITH new_call AS (
    INSERT INTO {call_table} ({columns}, incident_id)
    VALUES ({values}, nextval(pg_get_serial_sequence('{incident_table}', 'id')))
    ON CONFLICT (sid) DO NOTHING
    RETURNING id, incident_id
)
SELECT new_call.id, new_call.incident_id, history.calls, history.pranks, history.last,
       EXISTS (SELECT 1 FROM {location_table}
               WHERE from_number = %s AND incident_id IS NULL AND received_at >= %s)
FROM new_call, (
    SELECT count(*) AS calls, count(*) FILTER (WHERE classification = %s) AS pranks,
           max(started_at) AS last
    FROM {call_table}
    WHERE from_number = %s AND direction = %s AND started_at >= %s
) AS history
"""


def open_incident_of_new_call(call):
    """The incident of a call `insert_new_call` recorded, with its timeline — `incident.created`
    naming the call, then `call.created`, both built from what is in hand — in one statement
    (`dispatch.incidents.open_numbered_incident`); then the number's waiting handset position,
    if any."""
    incident, call_created = new_incident_of(call)
    open_numbered_incident(incident, calls=[call], then=[call_created])
    if call.has_pending_location:
        apply_pending_locations(incident, call.from_number)
    log_new_call(call)


def new_incident_of(call):
    """The unsaved incident of a call `insert_new_call` recorded, and the call's
    `call.created` draft."""
    incident = Incident(id=call.incident_id, caller_phone=call.from_number)
    call.incident = incident
    return incident, events.draft("call.created", incident=incident, data=call_data(call))


def log_new_call(call):
    logger.info("112 %s call received", call.channel, extra=log_context(call))


async def receive_new_voice_call(params):
    """The voice webhook's common case, on the event loop with no thread (`config.fastlane`):
    a new call, and no handset position waiting for its number. The same two statements as
    `receive_call`'s, in one transaction on a connection of the loop's own, the COMMIT sent
    with the second (`loop_database.run_in_transaction`). Returns the call, or None — nothing
    written — when the call is not new or a position waits: `receive_call` then does it all."""

    async def record(statements):
        call = new_call(params, Call.Channel.VOICE)
        if not took_new_call(call, await statements.fetch_one(*new_call_statement(call))):
            return None
        if call.has_pending_location:
            return None  # rolled back
        incident, call_created = new_incident_of(call)
        sql, sql_params, drafts = numbered_incident_statement(
            incident, calls=[call], then=[call_created]
        )
        numbered_incident_written(
            incident, drafts, await statements.fetch_one(sql, sql_params, last=True)
        )
        return call, drafts

    recorded = await run_in_transaction(record)  # idempotent: a second try finds the CallSid
    if recorded is None:
        return None
    call, drafts = recorded
    events.publish_written(drafts)
    log_new_call(call)
    return call


# A text from a number whose incident opened this recently, and is still open, is the same
# emergency: it joins that incident's conversation (CONTRACT §10).
CONVERSATION_WINDOW = timedelta(hours=2)


@transaction.atomic
def receive_sms(params):
    """Record a text to 112 as a message of its number's conversation: that of the number's
    newest open incident of the last two hours, or of a new incident, the text being its first
    description and recorded as a call on the SMS channel. Idempotent on the MessageSid.
    Returns `(message, created)`.

    An Advanced Mobile Location text is no message (CONTRACT §10): it only places the caller
    (`receive_aml`) and the answer is `(None, created)`; answer it with success all the same."""
    from_number = to_e164_or_raw(params.get("From", ""))
    body = params.get("Body", "")
    if aml.is_aml(body):
        return None, receive_aml(params["MessageSid"], from_number, body)
    message, created = Message.objects.get_or_create(
        direction=Message.Direction.IN,
        sid=params["MessageSid"],
        defaults={
            "number": from_number,
            "body": body[:TEXT_MAX_LENGTH],
            "at": timezone.now(),
            "status": "received",
        },
    )
    if created:
        one_conversation_at_a_time(from_number)
        incident = newest_open_incident(from_number, since=message.at - CONVERSATION_WINDOW)
        if incident is None:
            first_text(message, to_e164_or_raw(params.get("To", "")))
        else:
            message.incident = incident
            message.save(update_fields=["incident", "updated_at"])
        record_message_event("incident.message_received", message)
        logger.info("112 SMS received", extra={"incident": message.incident.reference})
    return message, created


def one_conversation_at_a_time(number):
    """Two texts from one number at once must not open two incidents: on PostgreSQL the second
    waits here until the first has committed its incident (a lock on the number, released at
    commit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["sms:" + number])


def first_text(message, to_number):
    """A text that opens its incident: recorded as a call on the SMS channel, like a voice
    call, and the incident takes the number's pending handset position."""
    call = Call.objects.create(
        sid=message.sid,
        channel=Call.Channel.SMS,
        from_number=message.number,
        to_number=to_number,
        status="received",
        body=message.body,
        started_at=message.at,
    )
    incident = open_incident(caller_phone=message.number, description=message.body, call=call)
    record_call_event("call.created", call)
    apply_pending_locations(incident, message.number)
    message.incident, message.call = incident, call
    message.save(update_fields=["incident", "call", "updated_at"])


# The handset sends its AML seconds after the call starts; an incident of the last hour from
# the same number is that call's. An AML with no incident yet waits this long for its call.
AML_INCIDENT_WINDOW = timedelta(hours=1)
PENDING_LOCATION_WINDOW = timedelta(minutes=10)


def receive_aml(sid, from_number, body):
    """Place the number's newest open incident of the last hour where its handset says, or
    keep the position for the call that follows. A malformed AML is dropped (logged, nothing
    stored: it comes from anybody who can text). Returns whether this sid was new."""
    try:
        report = aml.parse(body)
    except aml.MalformedAML as error:
        logger.warning("Malformed AML text dropped: %s", error, extra={"call_sid": sid})
        return False
    if not report.has_position:
        logger.info("AML text without a position", extra={"call_sid": sid})
        return False
    location, created = HandsetLocation.objects.get_or_create(
        sid=sid,
        defaults={
            "from_number": from_number,
            "received_at": timezone.now(),
            "latitude": report.latitude,
            "longitude": report.longitude,
            "accuracy_m": report.radius_m,
            "positioned_at": report.positioned_at,
            "method": report.method or "",
            "confidence": report.confidence,
        },
    )
    if created:
        incident = newest_open_incident(from_number, since=timezone.now() - AML_INCIDENT_WINDOW)
        if incident is not None:
            apply_location(location, incident)
        else:
            logger.info("AML kept for the call that follows", extra={"call_sid": sid})
    return created


def newest_open_incident(from_number, *, since):
    """The number's newest open incident created since `since`, locked; None without one. The
    number is the caller's (`caller_phone`) or that of one of its calls, so an operator's edit
    of `caller_phone` does not hide it."""
    of_number = Q(caller_phone=from_number) | Q(
        id__in=Call.objects.filter(from_number=from_number, incident__isnull=False).values(
            "incident_id"
        )
    )
    return (
        Incident.objects.select_for_update()
        .filter(of_number, status__in=Incident.OPEN_STATUSES, created_at__gte=since)
        .order_by("-created_at", "-id")
        .first()
    )


def apply_location(location, incident):
    set_handset_location(
        incident,
        latitude=location.latitude,
        longitude=location.longitude,
        accuracy_m=location.accuracy_m,
        at=location.positioned_at,
        method=location.method,
    )
    location.incident, location.applied_at = incident, timezone.now()
    location.save(update_fields=["incident", "applied_at"])
    logger.info("AML position applied", extra={"incident": incident.reference})


def apply_pending_locations(incident, from_number):
    """A new incident takes the AML its number sent in the last minutes (oldest fix first:
    the newest ends in place)."""
    since = timezone.now() - PENDING_LOCATION_WINDOW
    pending = HandsetLocation.objects.select_for_update().filter(
        from_number=from_number, incident__isnull=True, received_at__gte=since
    )
    for location in pending.order_by("positioned_at", "id"):
        apply_location(location, incident)


def is_newer(call, status, sequence):
    """Order callbacks by the status's place in a call's life, then by Twilio's SequenceNumber:
    a late `ringing` never undoes `completed`, and a repeated callback changes nothing."""
    rank = CALL_STATUS_RANK.get(status, -1)
    current = CALL_STATUS_RANK.get(call.status, -1)
    return (rank, sequence) > (current, call.status_sequence)


def parse_sequence(params):
    try:
        return int(params.get("SequenceNumber", -1))
    except ValueError:
        return -1


@transaction.atomic
def apply_status_callback(params):
    status = params.get("CallStatus", "")
    if status not in CALL_STATUS_RANK:
        return None
    call, _created = receive_call(params)  # locked by receive_call for this transaction
    at = twilio_time(params)
    changed = set()
    if status == "in-progress" and call.answered_at is None:
        call.answered_at = at
        changed.add("answered_at")
    if status in FINAL_CALL_STATUSES:
        if call.ended_at is None:
            call.ended_at = at
            changed.add("ended_at")
        duration = params.get("CallDuration", "")
        # A repeated final callback carries the same duration: no change, no event.
        if duration.isdecimal() and int(duration) != call.duration_seconds:
            call.duration_seconds = int(duration)
            changed.add("duration_seconds")
    sequence = parse_sequence(params)
    if is_newer(call, status, sequence):
        call.status, call.status_sequence = status, sequence
        changed |= {"status", "status_sequence"}
    if status in FINAL_CALL_STATUSES and call.queue_state not in (None, Call.QueueState.ENDED):
        end_in_queue(call)
        changed |= {"queue_state", "abandoned", "missed", "wait_seconds"}
    if changed:
        call.save(update_fields=sorted(changed | {"updated_at"}))
        record_call_event("call.updated", call)
    return call


# QueueResult values after which the caller never reached anybody (CONTRACT §9).
ABANDONING_RESULTS = frozenset({"hangup", "error", "system-error"})


@transaction.atomic
def left_queue(params):
    """Twilio's `<Enqueue action>`: how the caller left the operators' queue. A call we never
    recorded (the intake had failed over to Twilio's queue) is recorded now: nobody is lost."""
    call, _created = receive_call(params)
    call.queue_result = params.get("QueueResult", "")[:32]
    held = call.queue_state in (Call.QueueState.CONNECTING, Call.QueueState.CONNECTED)
    if call.queue_result in ABANDONING_RESULTS and not held:
        queue_time = params.get("QueueTime", "")
        mark_abandoned(call, int(queue_time) if queue_time.isdecimal() else None)
        if call.queue_result == "hangup":
            call.queue_state = Call.QueueState.ENDED
    call.save()
    record_call_event("call.updated", call)
    return call


def mark_abandoned(call, wait_seconds=None):
    """The caller never reached anybody: missed until somebody settles it (`answering`)."""
    if call.abandoned:
        return
    call.abandoned = call.missed = True
    if wait_seconds is None:
        wait_seconds = max(0, int((timezone.now() - call.started_at).total_seconds()))
    call.wait_seconds = wait_seconds


def end_in_queue(call):
    """The call is over (final status callback): a caller who never talked to an operator is
    missed, whatever became of the queue's own callback; a call-back that never connected too
    stays unsettled (its missed call keeps `missed`)."""
    if call.direction == Call.Direction.INBOUND and call.queue_state != Call.QueueState.CONNECTED:
        mark_abandoned(call)
    call.queue_state = Call.QueueState.ENDED


@transaction.atomic
def classify(call_id, classification, *, actor):
    """The operator's verdict on a call (Cilegon SOP): only normal calls become emergencies, so
    a ghost, prank or information call closes its incident unless an agency already holds it;
    classifying it normal again reopens that incident."""
    call = Call.objects.select_for_update().get(pk=call_id)
    if call.classification == classification:
        return call
    call.classification = classification
    call.save(update_fields=["classification", "updated_at"])
    record_call_event("call.updated", call, actor)
    if call.incident_id and classification is not None:
        settle_after_classification(call.incident_id, classification, actor)
    return call


# Why a call's classification closes its incident, for the history.
CLOSE_REASON_OF_CLASSIFICATION = {
    Call.Classification.GHOST: Incident.CloseReason.NO_ANSWER,
    Call.Classification.PRANK: Incident.CloseReason.PRANK,
    Call.Classification.INFO: Incident.CloseReason.HANDLED,
}


def settle_after_classification(incident_id, classification, actor):
    incident = locked_incident(incident_id)
    if incident.assignments.exists():
        return
    if classification != Call.Classification.NORMAL and incident.status == Incident.Status.NEW:
        reason = CLOSE_REASON_OF_CLASSIFICATION[classification]
        change_status(incident, Incident.Status.CLOSED, actor, close_reason=reason)
    elif classification == Call.Classification.NORMAL and incident.status == Incident.Status.CLOSED:
        change_status(incident, Incident.Status.NEW, actor)
