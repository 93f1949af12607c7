"""The timeline is the outbox: `record()` writes an IncidentEvent in the caller's transaction,
and after commit `publish()` — the one way an event leaves the domain — hands it to the channel
layer. If Redis is down the event is still in the database and dashboards replay it from
`GET /api/v1/events/?after=<seq>`."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from dispatch import visibility
from dispatch.models import IncidentEvent

logger = logging.getLogger(__name__)

# What a dashboard receives. Timeline types are finer (`assignment.acknowledged`); each maps to
# one of these envelope types, and the envelope carries the timeline type as `event`.
ENVELOPE_TYPES = frozenset(
    {
        "call.created",
        "call.updated",
        "incident.created",
        "incident.updated",
        "assignment.created",
        "assignment.updated",
        "escalation.triggered",
    }
)

COMMAND_CENTRE_GROUP = "dashboard.command-centre"


def agency_group(agency_id):
    return f"dashboard.agency.{agency_id}"


def envelope_type(event_type):
    if event_type in ENVELOPE_TYPES:
        return event_type
    return event_type.split(".", 1)[0] + ".updated"


def envelope(event):
    return {
        "type": envelope_type(event.type),
        "seq": event.id,
        "event": event.type,
        "at": event.at.isoformat(),
        "actor": event.actor.username if event.actor_id else None,
        "incident": event.incident_id,
        "data": event.data,
    }


def record(event_type, *, data, incident=None, agency=None, actor=None):
    """Append to the timeline inside the current transaction; publish once it commits."""
    event = IncidentEvent.objects.create(
        type=event_type,
        incident=incident,
        agency=agency,
        actor=actor if actor is not None and actor.is_authenticated else None,
        data=data,
    )
    transaction.on_commit(lambda: publish(event))
    return event


def publish(event):
    """Send a committed event to every dashboard group that may see it. Never raises: the
    database already holds the event, so a broken layer costs latency, not data."""
    message = {"type": "dashboard.event", "event": envelope(event)}
    groups = [COMMAND_CENTRE_GROUP] + [
        agency_group(agency_id) for agency_id in visibility.agencies_seeing_event(event)
    ]
    try:
        layer = get_channel_layer()
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.warning(
            "publish of event %s failed; clients will replay it", event.id, exc_info=True
        )
