"""Incidents that may be the same emergency (CONTRACT §10 `similar/`): several people report one
fire, the same person calls and texts. Shown to the operator while triaging, before dispatch, so
one fire is not dispatched twice. A hint, never an automatic merge."""

import math
from datetime import timedelta

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from agencies.models import Area
from dispatch.models import Incident

# Why an incident may be the same emergency, as the consoles word it.
REASONS = {
    "same_caller": _("same caller"),
    "same_place": _("same category and kelurahan"),
    "near": _("handset positions close together"),
}

SAME_CALLER_WITHIN = timedelta(hours=1)
SAME_PLACE_WITHIN = timedelta(minutes=30)
# Two handset positions (AML) this close, or within their accuracy radii, are one place.
NEAR_METRES = 200
EARTH_RADIUS_METRES = 6_371_000


def similar(incident, candidates):
    """`[(other, reasons)]`, newest first: the open incidents among `candidates` (a queryset the
    caller has already limited to what the user may see) that may be `incident`'s emergency."""
    conditions = Q(pk__in=[])
    if incident.caller_phone:
        conditions |= Q(caller_phone=incident.caller_phone) & around(incident, SAME_CALLER_WITHIN)
    if same_place_applies(incident):
        conditions |= Q(category_id=incident.category_id, area_id=incident.area_id) & around(
            incident, SAME_PLACE_WITHIN
        )
    if incident.aml_latitude is not None:
        conditions |= Q(aml_latitude__isnull=False) & around(incident, SAME_CALLER_WITHIN)
    others = (
        candidates.filter(conditions, status__in=Incident.OPEN_STATUSES)
        .exclude(pk=incident.pk)
        .order_by("-created_at")
    )
    found = [(other, reasons(incident, other)) for other in others]
    return [(other, why) for other, why in found if why]


def around(incident, window):
    return Q(
        created_at__gte=incident.created_at - window, created_at__lte=incident.created_at + window
    )


def same_place_applies(incident):
    """Same category and kelurahan: a kecamatan alone is too wide to call it one place."""
    return (
        incident.category_id is not None
        and incident.area_id is not None
        and incident.area.kind == Area.Kind.KELURAHAN
    )


def within(a, b, window):
    return abs(a.created_at - b.created_at) <= window


def reasons(incident, other):
    why = []
    if same_caller(incident, other) and within(incident, other, SAME_CALLER_WITHIN):
        why.append("same_caller")
    if same_place(incident, other) and within(incident, other, SAME_PLACE_WITHIN):
        why.append("same_place")
    if near(incident, other) and within(incident, other, SAME_CALLER_WITHIN):
        why.append("near")
    return why


def same_caller(a, b):
    return bool(a.caller_phone) and a.caller_phone == b.caller_phone


def same_place(a, b):
    return same_place_applies(a) and (a.category_id, a.area_id) == (b.category_id, b.area_id)


def near(a, b):
    if a.aml_latitude is None or b.aml_latitude is None:
        return False
    reach = max(NEAR_METRES, (a.aml_accuracy_m or 0) + (b.aml_accuracy_m or 0))
    return distance_metres(a, b) <= reach


def distance_metres(a, b):
    """Haversine: plenty for a few hundred metres within one city."""
    lat1, lon1 = math.radians(float(a.aml_latitude)), math.radians(float(a.aml_longitude))
    lat2, lon2 = math.radians(float(b.aml_latitude)), math.radians(float(b.aml_longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(h))
