"""The command centre's side of an incident's conversation with its caller by SMS (CONTRACT §10):
replies, and what becomes of them. The caller's side arrives through `intake.receive_sms`.

A reply is written (`queued`) and its event published before it is sent, so the operator sees
it at once; the provider is called outside any transaction, and its answer, like every delivery
report after it, moves the text forward only: reports come late, twice or out of order."""

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

import telephony
from calls.intake import record_message_event
from calls.models import MESSAGE_STATUS_RANK, Call, Message
from dispatch.incidents import Conflict
from dispatch.models import Incident

logger = logging.getLogger(__name__)

ERROR_MAX_LENGTH = 300  # Message.error
# Statuses a delivery report may set; `received` and `simulated` are ours alone.
REPORTED_STATUSES = frozenset(MESSAGE_STATUS_RANK) - {"received", "simulated"}


def reply(incident_id, body, *, author):
    """Text the incident's caller. Returns the message, sent or `failed` with the reason."""
    message = write_reply(incident_id, body, author)
    send(message)
    message.refresh_from_db()
    return message


@transaction.atomic
def write_reply(incident_id, body, author):
    incident = Incident.objects.get(pk=incident_id)
    number = caller_number(incident)
    if not number:
        raise Conflict(_("This incident has no caller number to text."))
    message = Message.objects.create(
        incident=incident,
        direction=Message.Direction.OUT,
        number=number,
        body=body,
        at=timezone.now(),
        author=author,
        status="queued",
    )
    record_message_event("incident.message_sent", message, author)
    return message


def caller_number(incident):
    """Whom a reply goes to: the incident's caller, as the operator has it, else the number of
    the incident's newest call from a caller."""
    if incident.caller_phone:
        return incident.caller_phone
    call = incident.calls.filter(direction=Call.Direction.INBOUND).order_by("-started_at").first()
    return call.from_number if call else ""


def send(message):
    """Hand the text to the SMS backend (telephony.sms_gateway) and record its answer."""
    try:
        backend = telephony.sms_gateway()
        callback = status_url(backend, message)
        sid = backend.send_sms(message.number, message.body, status_url=callback)
    except telephony.TelephonyError as error:
        logger.warning("reply %s not sent: %s", message.pk, error, extra=log_context(message))
        settle(message.pk, status="failed", error=str(error))
    except Exception as error:
        # An unreadable provider answer must still end as `failed`, not stay `queued` for ever.
        logger.exception("reply %s failed unexpectedly", message.pk, extra=log_context(message))
        settle(message.pk, status="failed", error=f"{type(error).__name__}: {error}")
    else:
        settle(message.pk, status=backend.sent_status, sid=sid)


def status_url(backend, message):
    """Where Twilio reports the text's delivery (the gateway has one URL for all its texts)."""
    if backend.name != "twilio":
        return None
    return telephony.public_url(reverse("calls:message-status", args=[message.pk]))


def log_context(message):
    return {"incident": message.incident.reference if message.incident_id else ""}


@transaction.atomic
def settle(message_id, *, status, sid=None, error=""):
    """Move a text forward to `status` (never back: MESSAGE_STATUS_RANK) and keep the
    provider's id. A change is one `incident.message_status` event; a repeat changes nothing."""
    message = (
        Message.objects.select_for_update(of=("self",)).select_related("author").get(pk=message_id)
    )
    changed = set()
    if sid and not message.sid:
        message.sid = sid[:64]
        changed.add("sid")
    if MESSAGE_STATUS_RANK.get(status, -1) > message.status_rank:
        message.status, message.error = status, error[:ERROR_MAX_LENGTH]
        changed |= {"status", "error"}
    if changed:
        message.save(update_fields=sorted(changed | {"updated_at"}))
    if "status" in changed:
        record_message_event("incident.message_status", message)
    return message


def apply_delivery_status(message_id, *, status, error=""):
    """Twilio's status callback for one of our texts. False when there is no such text."""
    if not Message.objects.filter(pk=message_id, direction=Message.Direction.OUT).exists():
        return False
    if status in REPORTED_STATUSES:
        # The provider's code as it gave it, like every provider error the platform keeps.
        settle(message_id, status=status, error=f"Twilio error {error}" if error else "")
    return True


def apply_gateway_status(provider_id, status):
    """The SMS gateway's delivery report, by the id it gave the text. False when unknown."""
    message_id = (
        Message.objects.filter(direction=Message.Direction.OUT, sid=provider_id)
        .values_list("pk", flat=True)
        .first()
    )
    if message_id is None:
        return False
    settle(message_id, status=status)
    return True
