"""Who may see what — the one place it is decided (CONTRACT §5, §7).

Operators, supervisors and admins see everything. Agency staff see the incidents that have an
assignment for their agency, only their agency's assignments, and only the timeline events
about those. The API's querysets and the WebSocket's audience both come from here.
"""

import collections

from django.db.models import Exists, OuterRef, Q

from dispatch.models import Assignment, Incident, IncidentEvent

# Timeline events about an incident as a whole (not about one agency's assignment) are shown to
# every agency that holds the incident.
INCIDENT_WIDE_PREFIX = "incident."


def incidents_for(user, queryset=None):
    queryset = Incident.objects.all() if queryset is None else queryset
    if user.is_command_centre:
        return queryset
    return queryset.filter(
        id__in=Assignment.objects.filter(agency_id=user.agency_id).values("incident_id")
    )


def assignments_for(user, queryset=None):
    queryset = Assignment.objects.all() if queryset is None else queryset
    if user.is_command_centre:
        return queryset
    return queryset.filter(agency_id=user.agency_id)


def events_for(user, queryset=None):
    queryset = IncidentEvent.objects.all() if queryset is None else queryset
    if user.is_command_centre:
        return queryset
    # A correlated EXISTS, not `incident_id IN (the agency's incidents)`: inside an OR,
    # PostgreSQL would hash every incident the agency ever held (a year's worth) for each
    # page; this looks up only the events in question (bench/year.py, the agency's replay).
    held = Assignment.objects.filter(agency_id=user.agency_id, incident_id=OuterRef("incident_id"))
    return queryset.filter(
        Q(agency_id=user.agency_id) | (Q(type__startswith=INCIDENT_WIDE_PREFIX) & Exists(held))
    )


def agencies_seeing_events(events):
    """For each event, the agency ids whose staff `events_for` shows it to (the command centre
    sees every event): the filter above, for events in hand, with one query at most. An event
    drafted with `incident_is_new` (its incident was opened in the event's own transaction,
    with no assignment) needs none."""
    holders = collections.defaultdict(set)
    incident_ids = {
        event.incident_id
        for event in events
        if is_incident_wide(event) and not getattr(event, "incident_is_new", False)
    }
    if incident_ids:
        held = Assignment.objects.filter(incident_id__in=incident_ids)
        for incident_id, agency_id in held.values_list("incident_id", "agency_id"):
            holders[incident_id].add(agency_id)
    audiences = []
    for event in events:
        agency_ids = set(holders.get(event.incident_id, ())) if is_incident_wide(event) else set()
        if event.agency_id is not None:
            agency_ids.add(event.agency_id)
        audiences.append(sorted(agency_ids))
    return audiences


def is_incident_wide(event):
    return event.incident_id is not None and event.type.startswith(INCIDENT_WIDE_PREFIX)
