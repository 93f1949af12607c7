"""The lists are served from rows (dispatch.api.rows), the single objects and the events'
payloads by the serializers: both must give the same JSON, byte for byte, for every field
filled or empty, for every audience."""

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from agencies.models import Area, Category
from calls.intake import receive_call
from calls.linking import merge
from dispatch import incidents, visibility
from dispatch.api.rows import RowShape
from dispatch.events import EventEnvelopeSerializer
from dispatch.models import Assignment, Incident, IncidentEvent
from tests.conftest import api_as
from tests.dispatch.helpers import API, KELURAHAN, new_incident, staff_of


def as_json(data):
    """What a client reads, key order included."""
    return JSONRenderer().render(data).decode()


def results(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def every_kind(operator):
    """Incidents with every field a list shows filled in one way or another: a call with a
    handset position, decimals and an acknowledged assignment with a note; a bare one with
    nulls; a duplicate merged into the first; one dispatched, then closed with a reason."""
    psc = staff_of("PSC119")
    call, _created = receive_call({"CallSid": "CArows1", "From": "081234567890"})
    full = Incident.objects.get(pk=call.incident_id)
    with transaction.atomic():
        incidents.set_handset_location(
            Incident.objects.select_for_update().get(pk=full.pk),
            latitude=Decimal("-6.0171234"),
            longitude=Decimal("106.0412345"),
            accuracy_m=35,
            at=timezone.now() - timedelta(seconds=20),
            method="G",
        )
    incidents.update_incident(
        full.pk,
        actor=operator,
        category=Category.objects.get(code="TRAFFIC"),
        area=Area.objects.get(code=KELURAHAN),
        description="Tabrakan «truk» dan motor\nJl. Raya Anyer",
        caller_name="Budi",
    )
    incidents.dispatch(full.pk, actor=operator)
    mine = Assignment.objects.get(incident=full, agency__code="PSC119")
    incidents.report_progress(mine.pk, actor=psc, status="en_route", note="Ambulans 2 menuju")
    new_incident(category=None, area=None, description="tanpa kategori")
    duplicate, _created = receive_call({"CallSid": "CArows2", "From": "081234567891"})
    merge(duplicate.incident_id, full.pk, actor=operator)
    closed = new_incident(category="FIRE", address="Jl. Merdeka 1")
    incidents.dispatch(closed.pk, actor=operator)  # DPKP's, withdrawn when it closes
    incidents.update_incident(closed.pk, actor=operator, status="closed", close_reason="prank")


AUDIENCES = ["operator", "psc_staff", "dpkp_staff"]


@pytest.mark.parametrize("audience", AUDIENCES)
def test_incident_list_items_are_the_incidents_as_shown_alone(every_kind, request, audience):
    client = api_as(request.getfixturevalue(audience))
    listed = results(client, f"{API}/incidents/?page_size=500")
    seen = visibility.incidents_for(request.getfixturevalue(audience))
    assert sorted(item["id"] for item in listed) == sorted(seen.values_list("id", flat=True))
    assert listed, "nothing to compare"
    for item in listed:
        alone = client.get(f"{API}/incidents/{item['id']}/").json()
        assert as_json(item) == as_json(alone)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_assignment_list_items_are_the_assignments_as_shown_alone(every_kind, request, audience):
    client = api_as(request.getfixturevalue(audience))
    listed = results(client, f"{API}/assignments/?page_size=500")
    assert listed, "nothing to compare"
    for item in listed:
        alone = client.get(f"{API}/assignments/{item['id']}/").json()
        assert as_json(item) == as_json(alone)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_replayed_events_are_the_published_envelopes(every_kind, request, audience):
    user = request.getfixturevalue(audience)
    replayed = results(api_as(user), f"{API}/events/?after=0&page_size=500")
    published = visibility.events_for(user).select_related("actor").order_by("seq")
    assert replayed, "nothing to compare"
    assert as_json(replayed) == as_json(EventEnvelopeSerializer(published, many=True).data)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_timeline_items_are_the_serialized_timeline(every_kind, request, audience):
    user = request.getfixturevalue(audience)
    client = api_as(user)
    for incident in visibility.incidents_for(user):
        timeline = visibility.events_for(user, incident.events.order_by("seq"))
        expected = EventEnvelopeSerializer(timeline, many=True, context={"timeline": True}).data
        listed = results(client, f"{API}/incidents/{incident.pk}/events/?page_size=500")
        assert as_json(listed) == as_json(expected)


def test_times_in_utc_end_in_z_as_drf_writes_them(every_kind, operator):
    client = api_as(operator)
    with timezone.override(UTC):
        listed = results(client, f"{API}/incidents/?page_size=500")
        alone = client.get(f"{API}/incidents/{listed[0]['id']}/").json()
    assert listed[0]["created_at"].endswith("Z")
    assert as_json(listed[0]) == as_json(alone)


def test_a_field_no_column_holds_must_be_given(cilegon):
    class Computed(serializers.ModelSerializer):
        label = serializers.SerializerMethodField()

        class Meta:
            model = IncidentEvent
            fields = ["id", "label"]

    with pytest.raises(TypeError, match="label"):
        RowShape(Computed)
    shape = RowShape(Computed, given=("label",))
    assert shape.represent([{"id": 7}], lambda row: {"label": "seven"}) == [
        {"id": 7, "label": "seven"}
    ]
