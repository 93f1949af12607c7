"""`GET /api/v1/incidents/{id}/similar/` (CONTRACT §10): open incidents that may be the same
emergency — the same caller within an hour, the same category and kelurahan within 30 minutes,
handset positions (AML) close together — at their boundaries, within what the user may see."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch import incidents
from dispatch.models import Incident
from tests.conftest import api_as
from tests.dispatch.helpers import KECAMATAN, KELURAHAN, incident_url, new_incident

pytestmark = pytest.mark.usefixtures("cilegon")
CALLER = "+6281234567890"
OTHER_KELURAHAN = "36.72.08.1001"


def at(incident, **offset):
    """Move an incident's creation by `offset` from now (the window counts from creation)."""
    Incident.objects.filter(pk=incident.pk).update(created_at=timezone.now() + timedelta(**offset))
    incident.refresh_from_db()
    return incident


def similar(user, incident):
    response = api_as(user).get(incident_url(incident.pk, "similar"))
    assert response.status_code == 200, response.content
    return {row["id"]: row["reasons"] for row in response.json()["results"]}


def test_the_same_caller_within_an_hour(operator):
    first = new_incident(None, None, caller_phone=CALLER)
    inside = at(new_incident(None, None, caller_phone=CALLER), minutes=-59, seconds=-50)
    outside = at(new_incident(None, None, caller_phone=CALLER), minutes=-60, seconds=-10)
    stranger = new_incident(None, None, caller_phone="+6281299999999")
    found = similar(operator, first)
    assert found == {inside.pk: ["same_caller"]}
    assert outside.pk not in found and stranger.pk not in found


def test_the_same_category_and_kelurahan_within_30_minutes(operator):
    fire = new_incident("FIRE", KELURAHAN)
    inside = at(new_incident("FIRE", KELURAHAN), minutes=-29, seconds=-50)
    outside = at(new_incident("FIRE", KELURAHAN), minutes=-30, seconds=-10)
    elsewhere = new_incident("FIRE", OTHER_KELURAHAN)
    other_kind = new_incident("MEDICAL", KELURAHAN)
    assert similar(operator, fire) == {inside.pk: ["same_place"]}
    assert not {outside.pk, elsewhere.pk, other_kind.pk} & similar(operator, fire).keys()


def test_a_kecamatan_alone_is_not_one_place(operator):
    wide = new_incident("FIRE", KECAMATAN)
    new_incident("FIRE", KECAMATAN)
    assert similar(operator, wide) == {}


def test_both_reasons_together_and_closed_incidents_left_out(operator):
    fire = new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    same = new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    closed = new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    incidents.update_incident(closed.pk, actor=None, status="closed")
    assert similar(operator, fire) == {same.pk: ["same_caller", "same_place"]}


def test_handset_positions_close_together(operator):
    here = new_incident(None, None)
    near = new_incident(None, None)
    far = new_incident(None, None)
    for incident, lat, lon in (
        (here, "-6.010000", "106.050000"),
        (near, "-6.011000", "106.050500"),
        (far, "-6.030000", "106.050000"),
    ):
        Incident.objects.filter(pk=incident.pk).update(
            aml_latitude=Decimal(lat), aml_longitude=Decimal(lon), aml_accuracy_m=30
        )
    here.refresh_from_db()
    assert similar(operator, here) == {near.pk: ["near"]}  # ~125 m; the far one ~2.2 km


def test_agency_staff_see_only_incidents_they_may_see(dpkp_staff, operator):
    fire = new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    other = new_incident(None, None, caller_phone=CALLER)
    incidents.dispatch(fire.pk, actor=operator)
    assert similar(dpkp_staff, fire) == {}  # `other` is not DPKP's
    assert api_as(dpkp_staff).get(incident_url(other.pk, "similar")).status_code == 404
    assert similar(operator, fire) == {other.pk: ["same_caller"]}


def test_a_fixed_number_of_queries(operator):
    fire = new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    from django.db import connection

    with CaptureQueriesContext(connection) as one:
        similar(operator, fire)
    for _ in range(5):
        new_incident("FIRE", KELURAHAN, caller_phone=CALLER)
    with CaptureQueriesContext(connection) as six:
        similar(operator, fire)
    assert len(six.captured_queries) == len(one.captured_queries)
