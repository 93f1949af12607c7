"""Each rule lives once (issue 9): the escalation actions are one registry that the validator,
the sweep's handlers and the consoles' labels all read; the consoles take their status sets,
orders and labels from the page's config instead of keeping copies in the JavaScript."""

import json
import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils import translation

from agencies.models import EscalationAction, validate_escalation_steps
from calls.models import CALL_STATUS_RANK, Call
from dispatch import duplicates, escalation, incidents, views
from dispatch.models import Assignment, Incident, Notification
from tests.dispatch.test_escalation import (
    dispatch_at,
    fired_steps,
    reload,
    set_policy,
    sweep,
    triggered,
)

JS = Path(settings.BASE_DIR) / "static" / "js"


# --- the escalation action registry ----------------------------------------------------------


def test_every_action_has_a_handler_and_every_handler_an_action():
    assert set(escalation.ACTIONS) == set(EscalationAction.values)
    escalation.check_actions()  # what DispatchConfig.ready runs at start


def test_an_action_without_a_handler_stops_the_start_naming_it():
    handlers = {k: v for k, v in escalation.ACTIONS.items() if k != EscalationAction.REROUTE}
    with pytest.raises(ImproperlyConfigured, match="without a handler: reroute"):
        escalation.check_actions(handlers)


def test_a_handler_without_an_action_stops_the_start_naming_it():
    handlers = {**escalation.ACTIONS, "fax_agency": escalation.notify_agency}
    with pytest.raises(ImproperlyConfigured, match="no EscalationAction: fax_agency"):
        escalation.check_actions(handlers)


def test_the_validator_takes_exactly_the_registry():
    for number, action in enumerate(EscalationAction.values, start=1):
        validate_escalation_steps([{"after_seconds": number, "action": action}])
    with pytest.raises(ValidationError):
        validate_escalation_steps([{"after_seconds": 1, "action": "fax_agency"}])


def test_the_consoles_label_every_action_and_no_other():
    config = views.console_config()
    assert list(config["escalation"]["actions"]) == EscalationAction.values
    assert all(config["escalation"]["actions"].values())
    # The timeline's sentences (static/js/ui.js) are keyed by action too.
    source = (JS / "ui.js").read_text()
    block = re.search(r"const ESCALATION_SENTENCES = \(\) => \(\{(.*?)\}\);", source, re.S)
    assert block, "ESCALATION_SENTENCES not found in static/js/ui.js"
    keys = set(re.findall(r"^\s*(\w+):", block.group(1), re.M))
    assert keys == set(EscalationAction.values)


def test_action_labels_come_in_the_page_language():
    with translation.override("en"):
        english = views.console_config()["escalation"]["actions"]
    assert english["reroute"] == "Reroute"
    assert english["notify_agency"] == "Re-alert the agency"


@pytest.mark.usefixtures("cilegon")
def test_an_unknown_action_in_an_old_copy_fires_without_notification_and_the_sweep_goes_on(
    caplog,
):
    set_policy("DPKP", [{"after_seconds": 60, "action": "notify_agency"}])
    set_policy("POLRES", [{"after_seconds": 60, "action": "notify_supervisors"}])
    _incident, assigned = dispatch_at(0, agencies=("DPKP", "POLRES"))
    old = assigned["DPKP"]
    # A copy taken by an older version, with an action this version no longer has.
    Assignment.objects.filter(pk=old.pk).update(
        escalation_steps=[
            {"after_seconds": 60, "action": "fax_agency"},
            {"after_seconds": 120, "action": "notify_agency"},
        ]
    )

    with caplog.at_level(logging.ERROR, logger="dispatch.escalation"):
        assert sweep(60) == 2

    assert fired_steps(old) == [(0, "fax_agency")]
    [event] = triggered(old)
    assert event.data["notifications"] == []
    assert not Notification.objects.filter(assignment=old).exists()
    assert "fax_agency" in caplog.text
    assert fired_steps(assigned["POLRES"]) == [(0, "notify_supervisors")]
    old = reload(old)
    assert old.escalation_level == 1
    assert old.escalate_at is not None
    # The steps after it still fire on time.
    assert sweep(120) == 1
    assert fired_steps(old) == [(0, "fax_agency"), (1, "notify_agency")]


# --- "taken back", defined once --------------------------------------------------------------


@pytest.mark.usefixtures("cilegon")
def test_taken_back_is_an_assignment_a_reroute_cancelled():
    set_policy("DPKP", [{"after_seconds": 60, "action": "reroute"}])
    _incident, assigned = dispatch_at(0)
    sweep(60)
    assert escalation.taken_back(reload(assigned["DPKP"]))
    assert views.console_config()["escalation"]["taken_back"] == {
        "status": "cancelled",
        "last_action": "reroute",
    }


@pytest.mark.usefixtures("cilegon")
def test_an_assignment_cancelled_after_an_alert_was_not_taken_back():
    set_policy("DPKP", [{"after_seconds": 60, "action": "notify_agency"}])
    incident, assigned = dispatch_at(0)
    sweep(60)
    locked = incidents.locked_incident(incident.pk)
    incidents.change_status(locked, Incident.Status.CANCELLED, None)
    assignment = reload(assigned["DPKP"])
    assert assignment.status == Assignment.Status.CANCELLED
    assert assignment.escalation_level == 1
    assert not escalation.taken_back(assignment)


# --- the console config --------------------------------------------------------------------


def test_the_config_carries_the_domains_sets_and_orders():
    config = views.console_config()
    assert config["incident"]["open"] == list(Incident.OPEN_STATUSES)
    assert config["incident"]["board"] == [*Incident.OPEN_STATUSES, "resolved"]
    assert config["assignment"]["active"] == list(Assignment.ACTIVE_STATUSES)
    reports = config["assignment"]["reports"]
    assert reports["acknowledged"] == ["en_route", "on_scene", "completed", "declined"]
    assert reports["en_route"] == ["on_scene", "completed"]
    assert reports["on_scene"] == ["completed"]
    assert reports["completed"] == reports["declined"] == reports["cancelled"] == []
    assert config["call"]["live_queue_states"] == ["waiting", "connecting", "connected"]


def test_the_config_labels_every_status():
    config = views.console_config()
    assert set(config["incident"]["labels"]) == set(Incident.Status.values)
    assert set(config["assignment"]["labels"]) == set(Assignment.Status.values)
    assert set(config["call"]["labels"]) == {*CALL_STATUS_RANK, "received"}
    assert set(config["call"]["queue_states"]) == set(Call.QueueState.values)
    assert set(config["call"]["classifications"]) == set(Call.Classification.values)
    assert set(config["delivery"]) == set(Notification.Status.values)


def test_the_config_words_handset_positions_and_duplicates():
    """The incident panel says how the handset positioned, where the position came from and
    why another incident may be the same emergency, in the page's language."""
    incident = views.console_config()["incident"]
    assert set(incident["aml_methods"]) == set(Incident.AMLMethod.values)
    assert set(incident["location_sources"]) == set(Incident.LocationSource.values)
    assert list(incident["similar_reasons"]) == list(duplicates.REASONS)
    assert list(duplicates.REASONS) == ["same_caller", "same_place", "near"]  # CONTRACT §10
    with translation.override("en"):
        english = views.console_config()["incident"]
    assert english["aml_methods"]["C"] == "Cell"
    assert english["similar_reasons"]["same_caller"] == "same caller"


def page_config(response):
    found = re.search(
        r'<script id="console-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the page has no console-config"
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_the_command_centre_page_carries_the_config_and_the_boards_columns(client, operator):
    client.force_login(operator)
    response = client.get("/")
    config = page_config(response)
    with translation.override("id"):  # the consoles' language unless a user picks English
        assert config == views.console_config()
    body = response.content.decode()
    for status in config["incident"]["board"]:
        assert f'id="col-{status}"' in body


@pytest.mark.django_db
def test_the_agency_console_carries_the_config_in_the_pages_language(client, dpkp_staff):
    client.force_login(dpkp_staff)
    config = page_config(client.get("/"))
    with translation.override("id"):
        assert config["assignment"]["labels"]["pending"] == str(Assignment.Status.PENDING.label)


COPIES = [
    r"STATUS_LABELS",
    r"ACTION_LABELS",
    r"DELIVERY_LABELS",
    r"CLASSIFICATION_NAMES",
    r"\[\s*\"new\",\s*\"dispatched\"",
    r"\[\s*\"pending\",\s*\"acknowledged\"",
    r"\"en_route\",\s*\"on_scene\"",
    r"\[\s*\"waiting\",\s*\"connecting\"",
    r"after_seconds\s*\*\s*1000",
]


@pytest.mark.parametrize("pattern", COPIES)
def test_the_javascript_keeps_no_copy_of_a_server_rule(pattern):
    for path in JS.glob("*.js"):
        if path.name == "softphone.js":
            continue
        assert not re.search(pattern, path.read_text()), f"{path.name} copies {pattern}"
