"""Advanced Mobile Location (ETSI TS 103 625, CONTRACT §10): the parser against the standard's
own example and hostile strings, then AML texts through the signed Twilio SMS webhook."""

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls import aml, intake
from calls.models import Call, HandsetLocation
from dispatch import incidents
from dispatch.models import Incident, IncidentEvent
from tests.calls.test_webhooks import SMS, VOICE, sms_params, twiml, voice_params
from tests.conftest import api_as, post_signed

# The example message of the standard (TS 103 625 / TR 103 393): its `ml` counts the message
# without the `A"ML=1` header.
STANDARD_EXAMPLE = (
    'A"ML=1;lt=+55.74317;lg=+012.41630;rd=50;top=20130717145535;lc=90;pm=W;'
    "si=123456789012345;ei=1234567890123456;mcc=234;mnc=30;ml=124"
)
MINIMAL = 'A"ML=1;lt=-6.01750;lg=+106.04560;rd=12;top=20261110020000'


# --- the parser ----------------------------------------------------------------------------


def test_the_standards_example_parses_field_by_field():
    report = aml.parse(STANDARD_EXAMPLE)
    assert report == aml.AMLReport(
        latitude=Decimal("55.74317"),
        longitude=Decimal("12.41630"),
        radius_m=50,
        positioned_at=datetime(2013, 7, 17, 14, 55, 35, tzinfo=UTC),
        confidence=90,
        method="W",
        imsi="123456789012345",
        imei="1234567890123456",
        mcc="234",
        mnc="30",
    )
    assert report.has_position


def test_a_length_counting_the_whole_message_is_accepted_too():
    body = STANDARD_EXAMPLE.replace("ml=124", "ml=130")
    assert len(body) == 130
    assert aml.parse(body).radius_m == 50


def test_only_position_radius_and_time_are_required():
    report = aml.parse(MINIMAL)
    assert (report.latitude, report.longitude) == (Decimal("-6.01750"), Decimal("106.04560"))
    assert (report.confidence, report.method, report.imsi, report.imei) == (None,) * 4


def test_fields_left_empty_by_the_handset_are_absent():
    report = aml.parse(MINIMAL + ";si=;ei=;mcc=510;mnc=10;pm=G")
    assert (report.imsi, report.imei, report.mcc, report.mnc) == (None, None, "510", "10")


def test_no_position_method_says_so():
    assert not aml.parse(MINIMAL + ";pm=N").has_position


def test_a_field_of_a_later_revision_is_ignored_when_well_formed():
    assert aml.parse(MINIMAL + ";ad=+12.5").radius_m == 12


def test_a_trailing_line_end_from_a_relay_is_tolerated():
    assert aml.parse(MINIMAL + "\r\n").radius_m == 12


def test_the_report_is_immutable():
    report = aml.parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.latitude = Decimal(0)


def test_boundaries_of_the_ranges_are_accepted():
    report = aml.parse('A"ML=1;lt=-90;lg=+180.00000;rd=100000;top=20261231235959;lc=100')
    assert (report.latitude, report.longitude, report.radius_m) == (-90, 180, 100000)


HOSTILE = {
    "nul": MINIMAL.replace("rd=12", "rd=\x00"),  # the webhook drops NULs: still no radius
    "ten kilobytes": MINIMAL + ";x=" + "1" * 10_000,
    "unicode digits": MINIMAL.replace("lt=-6.01750", "lt=-\uff16.01750"),
    "arabic-indic digits": MINIMAL.replace("rd=12", "rd=\u0661\u0662"),
    "exponent": MINIMAL.replace("lt=-6.01750", "lt=1e9"),
    "nan": MINIMAL.replace("lt=-6.01750", "lt=NaN"),
    "infinity": MINIMAL.replace("lg=+106.04560", "lg=Infinity"),
    "latitude out of range": MINIMAL.replace("lt=-6.01750", "lt=91.0"),
    "longitude out of range": MINIMAL.replace("lg=+106.04560", "lg=-180.00001"),
    "six decimals": MINIMAL.replace("lt=-6.01750", "lt=-6.017501"),
    "missing semicolon": 'A"ML=1;lt=-6.01750lg=+106.04560;rd=12;top=20261110020000',
    "duplicate latitude": MINIMAL + ";lt=-7.00000",
    "missing rd": 'A"ML=1;lt=-6.01750;lg=+106.04560;top=20261110020000',
    "missing top": 'A"ML=1;lt=-6.01750;lg=+106.04560;rd=12',
    "missing lt": 'A"ML=1;lg=+106.04560;rd=12;top=20261110020000',
    "no such day": MINIMAL.replace("top=20261110020000", "top=20261332000000"),
    "strptime would guess": MINIMAL.replace("top=20261110020000", "top=20261311200000"),
    "short time": MINIMAL.replace("top=20261110020000", "top=2026111002000"),
    "zero radius": MINIMAL.replace("rd=12", "rd=0"),
    "negative radius": MINIMAL.replace("rd=12", "rd=-5"),
    "huge radius": MINIMAL.replace("rd=12", "rd=999999"),
    "confidence over 100": MINIMAL + ";lc=101",
    "unknown method": MINIMAL + ";pm=X",
    "imsi with letters": MINIMAL + ";si=12345abc",
    "wrong length field": MINIMAL + ";ml=999",
    "trailing semicolon": MINIMAL + ";",
    "empty segment": MINIMAL.replace(";rd=12", ";;rd=12"),
    "injection": MINIMAL.replace("lt=-6.01750", "lt=__import__('os').system('id')"),
    "sql": MINIMAL + ";pm=G'; DROP TABLE dispatch_incident;--",
    "markup in an unknown field": MINIMAL + ";x=<script>alert(1)</script>",
    "other version": MINIMAL.replace('A"ML=1', 'A"ML=2'),
    "lower-case header": MINIMAL.replace('A"ML=1', 'a"ml=1'),
    "leading space": " " + MINIMAL,
    "newline inside": MINIMAL.replace(";rd=12", ";\nrd=12"),
    "upper-case key": MINIMAL.replace("rd=12", "RD=12"),
    "header only": 'A"ML=1;',
    "not text": MINIMAL.encode(),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_or_malformed_text_is_rejected(body):
    with pytest.raises(aml.MalformedAML):
        aml.parse(body)


# --- applying it: AML texts through the Twilio SMS webhook ---------------------------------

CALLER = "+6281234567890"


def aml_body(lt="-6.01750", lg="+106.04560", rd=12, top=None, pm="G"):
    top = top or timezone.now().astimezone(UTC)
    return f'A"ML=1;lt={lt};lg={lg};rd={rd};top={top:%Y%m%d%H%M%S};lc=68;pm={pm}'


def send_aml(client, body=None, sid="SMaml1"):
    """Post the AML the way Twilio does; the answer is an empty TwiML: nothing to text back."""
    response = post_signed(client, SMS, sms_params(sid=sid, body=body or aml_body()))
    root = twiml(response)
    assert list(root) == []
    return response


def place_call(client, sid="CAvoice1"):
    post_signed(client, VOICE, voice_params(sid=sid))
    return Call.objects.get(sid=sid).incident


def age(incident, delta):
    Incident.objects.filter(pk=incident.pk).update(created_at=timezone.now() - delta)


def changes(incident):
    return [event.data["changed"] for event in incident.events.filter(type="incident.updated")]


def counts():
    return (
        Call.objects.count(),
        Incident.objects.count(),
        IncidentEvent.objects.count(),
        HandsetLocation.objects.count(),
    )


@pytest.mark.usefixtures("cilegon")
def test_an_aml_places_the_callers_incident_and_is_no_message(client):
    incident = place_call(client)
    top = datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC)
    send_aml(client, aml_body(top=top))

    incident.refresh_from_db()
    assert (incident.latitude, incident.longitude) == (Decimal("-6.0175"), Decimal("106.0456"))
    assert (incident.location_accuracy_m, incident.location_source) == (12, "aml")
    assert (incident.aml_latitude, incident.aml_longitude) == (
        incident.latitude,
        incident.longitude,
    )
    assert (incident.aml_accuracy_m, incident.aml_at, incident.aml_method) == (12, top, "G")
    # Never a call, a message or an incident of its own.
    assert Call.objects.count() == 1 and Incident.objects.count() == 1
    assert changes(incident) == [
        [
            "aml_accuracy_m",
            "aml_at",
            "aml_latitude",
            "aml_longitude",
            "aml_method",
            "latitude",
            "location_accuracy_m",
            "location_source",
            "longitude",
        ]
    ]
    event = incident.events.get(type="incident.updated")
    assert event.actor is None
    assert event.data["incident"]["location_source"] == "aml"
    assert event.data["incident"]["location_accuracy_m"] == 12
    location = HandsetLocation.objects.get()
    assert (location.sid, location.incident, location.from_number) == ("SMaml1", incident, CALLER)


@pytest.mark.usefixtures("cilegon")
def test_the_newest_open_incident_of_the_number_is_placed(client):
    older = place_call(client, "CAolder")
    newer = place_call(client, "CAnewer")
    closed = place_call(client, "CAclosed")
    Incident.objects.filter(pk=closed.pk).update(status=Incident.Status.CLOSED)
    age(older, timedelta(minutes=20))
    age(newer, timedelta(minutes=10))
    age(closed, timedelta(minutes=1))

    send_aml(client)

    assert Incident.objects.get(pk=newer.pk).location_source == "aml"
    assert Incident.objects.get(pk=older.pk).latitude is None
    assert Incident.objects.get(pk=closed.pk).latitude is None


@pytest.mark.usefixtures("cilegon")
@pytest.mark.parametrize(
    "created_ago, placed",
    [(timedelta(minutes=59, seconds=55), True), (timedelta(minutes=60, seconds=5), False)],
    ids=["59:55 ago", "60:05 ago"],
)
def test_only_an_incident_of_the_last_hour_is_placed(client, created_ago, placed):
    incident = place_call(client)
    age(incident, created_ago)
    send_aml(client)

    incident.refresh_from_db()
    assert (incident.location_source == "aml") is placed
    # Not placed: kept for a call that may follow.
    assert (HandsetLocation.objects.get().incident_id is None) is not placed


@pytest.mark.usefixtures("cilegon")
def test_an_operators_own_coordinates_are_kept_and_the_aml_stored_beside(client, operator):
    incident = place_call(client)
    incidents.update_incident(
        incident.pk, actor=operator, latitude=Decimal("-6.1"), longitude=Decimal("106.1")
    )
    incident.refresh_from_db()
    assert incident.location_source == "operator"

    send_aml(client)

    incident.refresh_from_db()
    assert (incident.latitude, incident.longitude) == (Decimal("-6.1"), Decimal("106.1"))
    assert (incident.location_source, incident.location_accuracy_m) == ("operator", None)
    assert (incident.aml_latitude, incident.aml_accuracy_m) == (Decimal("-6.0175"), 12)
    assert changes(incident)[-1] == [
        "aml_accuracy_m",
        "aml_at",
        "aml_latitude",
        "aml_longitude",
        "aml_method",
    ]


@pytest.mark.usefixtures("cilegon")
def test_a_newer_fix_replaces_an_earlier_aml_and_an_older_one_does_not(client):
    incident = place_call(client)
    now = timezone.now()
    send_aml(client, aml_body(rd=500, pm="C", top=now - timedelta(seconds=30)), sid="SMaml1")
    send_aml(client, aml_body(lt="-6.02000", rd=8, top=now), sid="SMaml2")
    send_aml(client, aml_body(lt="-6.03000", rd=900, top=now - timedelta(seconds=60)), "SMaml3")

    incident.refresh_from_db()
    assert (incident.latitude, incident.location_accuracy_m) == (Decimal("-6.02"), 8)
    assert (incident.aml_method, incident.location_source) == ("G", "aml")
    assert len(changes(incident)) == 2


@pytest.mark.usefixtures("cilegon")
def test_an_aml_before_the_call_is_kept_and_placed_when_the_call_comes(client):
    send_aml(client)
    location = HandsetLocation.objects.get()
    assert location.incident is None
    assert Incident.objects.count() == 0 and Call.objects.count() == 0

    incident = place_call(client)

    incident.refresh_from_db()
    assert (incident.latitude, incident.location_accuracy_m) == (Decimal("-6.0175"), 12)
    assert incident.location_source == "aml"
    timeline = list(incident.events.order_by("id").values_list("type", flat=True))
    assert timeline == ["incident.created", "call.created", "incident.updated"]
    location.refresh_from_db()
    assert location.incident == incident and location.applied_at is not None


@pytest.mark.usefixtures("cilegon")
def test_an_aml_before_an_sms_is_placed_on_the_sms_incident_too(client):
    send_aml(client)
    post_signed(client, SMS, sms_params(sid="SMtext1"))
    assert Incident.objects.get().location_source == "aml"


@pytest.mark.usefixtures("cilegon")
@pytest.mark.parametrize(
    "received_ago, placed",
    [(timedelta(minutes=9, seconds=55), True), (timedelta(minutes=10, seconds=5), False)],
    ids=["9:55 before", "10:05 before"],
)
def test_a_kept_aml_waits_ten_minutes_for_its_call(client, received_ago, placed):
    send_aml(client)
    HandsetLocation.objects.update(received_at=timezone.now() - received_ago)

    incident = place_call(client)

    incident.refresh_from_db()
    assert (incident.location_source == "aml") is placed


@pytest.mark.usefixtures("cilegon")
def test_a_kept_aml_of_another_number_is_not_taken(client):
    post_signed(client, SMS, sms_params(sid="SMaml1", body=aml_body(), From="+6281111111111"))
    incident = place_call(client)
    incident.refresh_from_db()
    assert incident.latitude is None


# The hostile strings that claim to be AML (the rest are ordinary messages), less the last.
HOSTILE_AML = {
    name: body for name, body in list(HOSTILE.items())[:-1] if body.startswith(aml.PREFIX)
}


@pytest.mark.usefixtures("cilegon")
@pytest.mark.parametrize("body", list(HOSTILE_AML.values()), ids=list(HOSTILE_AML))
def test_a_malformed_aml_changes_nothing_and_still_succeeds(client, body):
    incident = place_call(client)
    before = counts()

    send_aml(client, body[:1600])

    assert counts() == before
    incident.refresh_from_db()
    assert (incident.latitude, incident.location_source, incident.aml_at) == (None, "", None)


@pytest.mark.usefixtures("cilegon")
def test_an_aml_without_a_position_changes_nothing(client):
    incident = place_call(client)
    before = counts()
    send_aml(client, aml_body(pm="N"))
    assert counts() == before
    incident.refresh_from_db()
    assert incident.latitude is None


@pytest.mark.usefixtures("cilegon")
def test_the_same_message_sid_twice_is_applied_once(client):
    incident = place_call(client)
    send_aml(client)
    after_first = counts()

    send_aml(client)

    assert counts() == after_first
    assert len(changes(incident)) == 1


@pytest.mark.usefixtures("cilegon")
def test_a_repeated_aml_that_was_kept_stays_kept_once(client):
    send_aml(client)
    send_aml(client)
    assert HandsetLocation.objects.count() == 1
    assert intake.receive_sms(sms_params(sid="SMaml1", body=aml_body())) == (None, False)


@pytest.mark.usefixtures("cilegon")
def test_an_unsigned_aml_is_refused_and_changes_nothing(client):
    incident = place_call(client)
    before = counts()
    params = sms_params(sid="SMforged", body=aml_body())
    response = client.post(SMS, params, HTTP_X_TWILIO_SIGNATURE="forged")
    assert response.status_code == 403
    assert counts() == before
    incident.refresh_from_db()
    assert incident.latitude is None


# --- what the API shows --------------------------------------------------------------------


@pytest.mark.usefixtures("cilegon")
def test_the_incident_api_shows_the_position_its_accuracy_and_source(client, operator):
    incident = place_call(client)
    top = datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC)
    send_aml(client, aml_body(top=top))

    data = api_as(operator).get(f"/api/v1/incidents/{incident.pk}/").json()

    assert (data["latitude"], data["longitude"]) == ("-6.017500", "106.045600")
    assert (data["location_accuracy_m"], data["location_source"]) == (12, "aml")
    assert (data["aml_latitude"], data["aml_longitude"]) == ("-6.017500", "106.045600")
    assert (data["aml_accuracy_m"], data["aml_method"]) == (12, "G")
    assert data["aml_at"].startswith("2026-11-28T")


@pytest.mark.usefixtures("cilegon")
def test_the_location_fields_cannot_be_written_through_the_api(client, operator):
    incident = place_call(client)
    response = api_as(operator).patch(
        f"/api/v1/incidents/{incident.pk}/",
        {"location_source": "aml", "location_accuracy_m": 1, "aml_latitude": "1.0"},
        format="json",
    )
    assert response.status_code == 200
    incident.refresh_from_db()
    assert (incident.location_source, incident.location_accuracy_m) == ("", None)
    assert incident.aml_latitude is None


@pytest.mark.usefixtures("cilegon")
def test_an_operator_who_moves_an_aml_position_owns_it_from_then_on(client, operator):
    incident = place_call(client)
    send_aml(client, aml_body(top=timezone.now() - timedelta(seconds=30)), sid="SMaml1")
    response = api_as(operator).patch(
        f"/api/v1/incidents/{incident.pk}/", {"latitude": "-6.2"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["location_source"], response.json()["location_accuracy_m"]) == (
        "operator",
        None,
    )
    send_aml(client, aml_body(lt="-6.05000"), sid="SMaml2")

    incident.refresh_from_db()
    assert (incident.latitude, incident.aml_latitude) == (Decimal("-6.2"), Decimal("-6.05"))


# --- the migration -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_existing_coordinates_as_the_operators():
    """Until now only operators set coordinates: migrated, they stay theirs (and are never
    replaced by a handset's)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("dispatch", "0004_event_seq_at_commit"), ("calls", "0002_answering")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_incident = executor.loader.project_state(before).apps.get_model("dispatch", "Incident")
    placed = old_incident.objects.create(reference="CLG-1", latitude=Decimal("-6.01"))
    unplaced = old_incident.objects.create(reference="CLG-2")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Incident.objects.get(pk=placed.pk).location_source == "operator"
    assert Incident.objects.get(pk=placed.pk).latitude == Decimal("-6.01")
    assert Incident.objects.get(pk=unplaced.pk).location_source == ""
