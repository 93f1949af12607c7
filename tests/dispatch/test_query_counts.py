"""A page of the API costs a fixed number of queries, however many rows it shows: each list is
measured with 3 incidents and again with 30, and the counts must be equal (no N+1)."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agencies.models import Area, Category
from calls.intake import call_data, receive_call
from calls.models import Call
from dispatch import incidents, references
from dispatch.models import Assignment, Incident, IncidentEvent
from tests.conftest import api_as, requires_postgres
from tests.dispatch.helpers import API, KELURAHAN, staff_of

LISTS = [
    f"{API}/incidents/?page_size=500",
    f"{API}/incidents/?open=1&page_size=200",  # the consoles' open incidents
    f"{API}/assignments/?page_size=500",
    f"{API}/assignments/?status=pending,acknowledged,en_route,on_scene&page_size=200",
    f"{API}/events/?after=0&page_size=500",
]
COMMAND_CENTRE_LISTS = [f"{API}/calls/?page_size=500"]


@pytest.fixture
def populate(operator):
    """Adds `count` incidents, each opened by a call, edited, dispatched to TRAFFIC's three
    agencies and acknowledged by PSC119: every relation a list row shows is filled."""
    psc = staff_of("PSC119")
    traffic = Category.objects.get(code="TRAFFIC")
    area = Area.objects.get(code=KELURAHAN)
    made = []

    def add(count):
        for _ in range(count):
            number = len(made)
            call, _created = receive_call({"CallSid": f"CAq{number}", "From": "081234567890"})
            incidents.update_incident(call.incident_id, actor=operator, category=traffic, area=area)
            incidents.dispatch(call.incident_id, actor=operator)
            mine = Assignment.objects.get(incident_id=call.incident_id, agency__code="PSC119")
            incidents.acknowledge(mine.pk, actor=psc)
            made.append(call.incident_id)

    return add


def query_count(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.data
    return len(captured), response.data["count"]


def assert_constant_cost(client, url, populate, django_assert_num_queries):
    populate(3)
    few, rows_before = query_count(client, url)
    populate(27)
    with django_assert_num_queries(few):
        rows_after = client.get(url).data["count"]
    assert rows_after >= 10 * rows_before > 0


@pytest.mark.parametrize("url", LISTS + COMMAND_CENTRE_LISTS)
def test_command_centre_list_costs_the_same_for_3_and_30_incidents(
    operator, populate, django_assert_num_queries, url
):
    assert_constant_cost(api_as(operator), url, populate, django_assert_num_queries)


@pytest.mark.parametrize("url", LISTS)
def test_agency_staff_list_costs_the_same_for_3_and_30_incidents(
    psc_staff, populate, django_assert_num_queries, url
):
    assert_constant_cost(api_as(psc_staff), url, populate, django_assert_num_queries)


def test_incident_detail_and_timeline_cost_a_fixed_number_of_queries(
    operator, populate, django_assert_max_num_queries, django_assert_num_queries
):
    populate(1)
    client = api_as(operator)
    incident_id = Assignment.objects.values_list("incident_id", flat=True).first()
    with django_assert_max_num_queries(4):
        assert client.get(f"{API}/incidents/{incident_id}/").status_code == 200
    # The incident (may the user see it?), the count, the page: not its calls and assignments.
    with django_assert_num_queries(3):
        assert client.get(f"{API}/incidents/{incident_id}/events/").status_code == 200


@pytest.mark.parametrize("audience", ["operator", "psc_staff"])
def test_a_page_of_the_open_incidents_costs_four_queries(
    audience, request, populate, django_assert_num_queries
):
    """The count, the incidents (with their category and area codes), their calls, their
    assignments (with agency, acknowledger and reference): the same for 3 incidents as for a
    console's 200, whoever asks."""
    client = api_as(request.getfixturevalue(audience))
    populate(3)
    with django_assert_num_queries(4):
        assert client.get(f"{API}/incidents/?open=1&page_size=200").status_code == 200


# --- the voice webhook's hot path ---------------------------------------------------------------


def statements_of(captured):
    """The statements sent, but the savepoints of the test's own transaction."""
    return [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]


@requires_postgres
def test_a_new_call_is_recorded_in_two_statements(cilegon):
    """The call (with the caller's history and whether an AML waits) in one statement; the
    day's reference number, the incident and both events in a second; no query after commit:
    the publisher works on its own thread. With BEGIN and COMMIT, four round trips (thirteen
    before; the voice webhook's fast lane sends BEGIN and COMMIT with the statements: two)."""
    with CaptureQueriesContext(connection) as captured:
        call, created = receive_call({"CallSid": "CAnew", "From": "081234567890"})
    assert created
    statements = statements_of(captured)
    assert len(statements) == 2, statements
    assert statements[0].lstrip().startswith("WITH new_call AS")
    assert statements[1].lstrip().startswith("WITH counter AS")


@requires_postgres
def test_the_intakes_statements_are_prepared_once_per_connection(cilegon):
    """After psycopg's threshold of runs on one connection, PostgreSQL keeps both statements
    planned: later calls send only their parameters (settings: server_side_binding)."""
    for number in range(6):
        receive_call({"CallSid": f"CAprepared{number}", "From": f"08123456789{number}"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement.lstrip() for (statement,) in cursor.fetchall()]
    assert any(statement.startswith("WITH new_call AS") for statement in prepared), prepared
    assert any(statement.startswith("WITH counter AS") for statement in prepared), prepared


@requires_postgres
def test_a_retried_webhook_adds_nothing_in_two_statements(cilegon):
    receive_call({"CallSid": "CAretry", "From": "081234567890"})
    with CaptureQueriesContext(connection) as captured:
        _call, created = receive_call({"CallSid": "CAretry", "From": "081234567890"})
    assert not created
    assert len(statements_of(captured)) == 2  # the insert that conflicts, the locked read
    assert IncidentEvent.objects.count() == 2


@requires_postgres
def test_the_new_calls_events_carry_what_the_serializers_make_of_the_rows(cilegon):
    """Built from what is in hand, the payloads are those the API shows for the rows read back
    (the caller's history included: an earlier prank call of the same number)."""
    earlier, _ = receive_call({"CallSid": "CAearlier", "From": "081234567890"})
    Call.objects.filter(pk=earlier.pk).update(classification=Call.Classification.PRANK)
    call, _ = receive_call({"CallSid": "CAlater", "From": "081234567890", "To": "112"})
    created, announced = IncidentEvent.objects.filter(incident_id=call.incident_id)
    as_json = lambda data: json.loads(json.dumps(data, cls=DjangoJSONEncoder))  # noqa: E731
    incident = Incident.objects.get(pk=call.incident_id)
    assert (created.type, announced.type) == ("incident.created", "call.created")
    assert created.data == as_json(incidents.incident_data(incident))
    assert created.data["incident"]["calls"] == [call.pk]
    assert announced.data == as_json(call_data(Call.objects.get(pk=call.pk)))
    assert announced.data["call"]["caller_history"]["pranks"] == 1
    assert incident.reference == references.prefix_of(timezone.localdate()) + "0002"
