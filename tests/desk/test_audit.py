"""The configuration audit log: an entry for every kind of change, made on the desk's pages or
through the REST API (CONTRACT §5), in the change's own transaction, without secrets; and
append-only, down to the database."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from agencies import audit
from agencies.models import (
    Agency,
    ConfigChange,
    EscalationPolicy,
    RoutingRule,
    User,
)
from tests.conftest import api_as, make_user
from tests.dispatch.helpers import api_url, patch_json, post_json

Action = ConfigChange.Action
requires_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger is PostgreSQL's"
)
KECAMATAN = "36.72.08"  # Citangkil


@pytest.fixture
def desk(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def api(admin_user):
    return api_as(admin_user)


def only_change(**filters):
    changes = list(ConfigChange.objects.filter(**filters))
    assert len(changes) == 1, changes
    return changes[0]


def fire_rule():
    return RoutingRule.objects.get(category__code="FIRE", area=None)


def rule_form(**fields):
    return {"category": "", "area": "", "agencies": [], "priority": 100, "is_active": "on"} | fields


# The pages.


def test_a_new_rule_on_the_page_is_logged_with_its_fields(desk, admin_user, cilegon):
    fire = fire_rule().category_id
    dpkp, bpbd = Agency.objects.filter(code__in=["DPKP", "BPBD"]).order_by("code")
    answer = desk.post(
        "/config/routing/new/",
        rule_form(category=fire, area="", agencies=[dpkp.pk, bpbd.pk], priority=5),
    )
    assert answer.status_code == 302
    change = only_change(area="routing")
    assert (change.actor, change.action, change.via) == (admin_user, Action.CREATE, "desk")
    assert change.before is None
    assert change.after == {
        "category": "FIRE",
        "area": None,
        "agencies": ["BPBD", "DPKP"],
        "priority": 5,
        "is_active": True,
    }


def test_an_edited_rule_is_logged_before_and_after(desk, cilegon):
    rule = fire_rule()
    psc = Agency.objects.get(code="PSC119")
    area = rule.category.routing_rules.model._meta.get_field("area").related_model
    kecamatan = area.objects.get(code=KECAMATAN)
    desk.post(
        f"/config/routing/{rule.pk}/",
        rule_form(category=rule.category_id, area=kecamatan.pk, agencies=[psc.pk], priority=7),
    )
    change = only_change(area="routing", object_id=str(rule.pk))
    assert change.action == Action.UPDATE
    assert change.before["agencies"] == ["DPKP"]
    assert change.after["agencies"] == ["PSC119"]
    assert (change.before["area"], change.after["area"]) == (None, KECAMATAN)
    assert audit.field_changes(change) == [
        ("area", None, KECAMATAN),
        ("agencies", ["DPKP"], ["PSC119"]),
        ("priority", 100, 7),
    ]


def test_a_rule_switched_off_is_logged_as_deactivated(desk, cilegon):
    rule = fire_rule()
    desk.post(
        f"/config/routing/{rule.pk}/",
        {
            "category": rule.category_id,
            "area": "",
            "agencies": [a.pk for a in rule.agencies.all()],
            "priority": 100,
        },
    )
    assert only_change(area="routing").action == Action.DEACTIVATE
    rule.refresh_from_db()
    assert not rule.is_active


def test_a_deleted_rule_is_logged_with_what_it_was(desk, cilegon):
    rule = fire_rule()
    assert desk.post(f"/config/routing/{rule.pk}/delete/").status_code == 302
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    change = only_change(area="routing")
    assert change.action == Action.DELETE
    assert change.before["category"] == "FIRE"
    assert change.after is None
    assert change.object_id == str(rule.pk)


def test_a_save_that_changes_nothing_is_not_logged(desk, cilegon):
    rule = fire_rule()
    desk.post(
        f"/config/routing/{rule.pk}/",
        rule_form(category=rule.category_id, agencies=[a.pk for a in rule.agencies.all()]),
    )
    assert not ConfigChange.objects.exists()


def test_an_agency_edit_is_logged(desk, cilegon):
    policy = EscalationPolicy.objects.get()
    answer = desk.post(
        "/config/agencies/DLH/",
        {
            "name": "Dinas Lingkungan Hidup",
            "phone": "0254-391000",
            "backup_agency": "",
            "escalation_policy": policy.pk,
        },
    )
    assert answer.status_code == 302
    change = only_change(area="agencies", object_id=str(Agency.objects.get(code="DLH").pk))
    assert change.action == Action.DEACTIVATE  # the box was left unticked
    assert change.after["phone"] == "+62254391000"
    assert change.object_repr == "DLH"


def test_a_policy_edited_as_steps_is_logged(desk, cilegon):
    policy = EscalationPolicy.objects.get()
    desk.post(
        f"/config/policies/{policy.pk}/",
        steps_form(policy.name, [(2, "notify_agency"), (5, "notify_supervisors")]),
    )
    change = only_change(area="policies")
    assert change.action == Action.UPDATE
    assert change.after["steps"] == [
        {"after_seconds": 120, "action": "notify_agency"},
        {"after_seconds": 300, "action": "notify_supervisors"},
    ]
    assert len(change.before["steps"]) == 5


def steps_form(name, rows, initial=0):
    data = {
        "name": name,
        "steps-TOTAL_FORMS": len(rows),
        "steps-INITIAL_FORMS": initial,
        "steps-MIN_NUM_FORMS": 1,
        "steps-MAX_NUM_FORMS": 1000,
    }
    for index, (minutes, action) in enumerate(rows):
        data[f"steps-{index}-delay_minutes"] = minutes
        data[f"steps-{index}-action"] = action
    return data


def user_form(**fields):
    return {"role": "operator", "agency": "", "phone": "", "is_active": "on"} | fields


def test_user_creation_role_change_deactivation_and_reset_are_logged_without_secrets(
    desk, admin_user, cilegon
):
    password = "Kata-Sandi-112!"
    answer = desk.post(
        "/config/users/new/",
        {
            "username": "budi",
            "password": password,
            "role": "agency_staff",
            "agency": Agency.objects.get(code="DPKP").pk,
            "phone": "0812-3456-7890",
        },
    )
    assert answer.status_code == 302
    budi = User.objects.get(username="budi")
    assert budi.check_password(password)
    assert budi.phone == "+6281234567890"

    desk.post(f"/config/users/{budi.pk}/", user_form(role="supervisor"))
    desk.post(f"/config/users/{budi.pk}/", user_form(role="supervisor", is_active=""))
    desk.post(f"/config/users/{budi.pk}/", user_form(role="supervisor"))
    new_password = "Sandi-Baru-112!"
    desk.post(
        f"/config/users/{budi.pk}/password/",
        {"new_password1": new_password, "new_password2": new_password},
    )
    budi.refresh_from_db()
    assert budi.check_password(new_password)

    changes = list(ConfigChange.objects.filter(area="users").order_by("id"))
    assert [c.action for c in changes] == [
        Action.CREATE,
        Action.UPDATE,
        Action.DEACTIVATE,
        Action.REACTIVATE,
        Action.PASSWORD_RESET,
    ]
    assert changes[1].before["role"] == "agency_staff"
    assert changes[1].after["role"] == "supervisor"
    assert {c.actor for c in changes} == {admin_user}
    for change in changes:
        logged = f"{change.before} {change.after}"
        assert "password" not in logged
        assert budi.password not in logged


def test_a_password_reset_on_the_page_ends_the_users_tokens(desk, cilegon):
    person = make_user("sari", User.Role.OPERATOR)
    Token.objects.create(user=person)
    password = "Sandi-Baru-112!"
    desk.post(
        f"/config/users/{person.pk}/password/",
        {"new_password1": password, "new_password2": password},
    )
    assert not Token.objects.filter(user=person).exists()


def test_the_change_and_its_entry_are_one_transaction(desk, cilegon, monkeypatch):
    rule = fire_rule()

    def failing_entry(**fields):
        raise DatabaseError("the log is unavailable")

    monkeypatch.setattr(ConfigChange.objects, "create", failing_entry)
    with pytest.raises(DatabaseError):
        desk.post(
            f"/config/routing/{rule.pk}/",
            rule_form(category=rule.category_id, agencies=[Agency.objects.get(code="BPBD").pk]),
        )
    assert list(fire_rule().agencies.values_list("code", flat=True)) == ["DPKP"]


def test_the_page_shows_the_log_latest_first_with_readable_changes(desk, cilegon):
    rule = fire_rule()
    for priority in (10, 20):
        desk.post(
            f"/config/routing/{rule.pk}/",
            rule_form(
                category=rule.category_id,
                agencies=[a.pk for a in rule.agencies.all()],
                priority=priority,
            ),
        )
    page = desk.get("/config/routing/").content.decode()
    log = page[page.index('data-testid="config-log"') :]
    assert "WIB" in log
    assert "adm" in log
    assert log.index("<del>10</del> → <ins>20</ins>") < log.index("<del>100</del> → <ins>10</ins>")


# The REST API (CONTRACT §5): the same log, `via` "api".


def test_api_changes_to_agencies_are_logged(api, cilegon):
    assert patch_json(api, api_url("agencies", "DPKP"), {"phone": "0254-111222"}).status_code == 200
    change = only_change(area="agencies")
    assert (change.action, change.via) == (Action.UPDATE, "api")
    assert change.after["phone"] == "+62254111222"


def test_api_changes_to_routing_rules_are_logged(api, cilegon):
    created = post_json(
        api, api_url("routing-rules"), {"category": "FIRE", "area": KECAMATAN, "agencies": ["BPBD"]}
    )
    assert created.status_code == 201
    rule_id = created.data["id"]
    patch_json(api, api_url("routing-rules", rule_id), {"agencies": ["BPBD", "DPKP"]})
    patch_json(api, api_url("routing-rules", rule_id), {"is_active": False})
    assert api.delete(api_url("routing-rules", rule_id)).status_code == 204
    changes = list(ConfigChange.objects.filter(object_id=str(rule_id)).order_by("id"))
    assert [c.action for c in changes] == [
        Action.CREATE,
        Action.UPDATE,
        Action.DEACTIVATE,
        Action.DELETE,
    ]
    assert changes[0].after["agencies"] == ["BPBD"]
    assert changes[1].after["agencies"] == ["BPBD", "DPKP"]
    assert {c.via for c in changes} == {"api"}


def test_api_changes_to_policies_are_logged(api, cilegon):
    steps = [{"after_seconds": 90, "action": "reroute"}]
    created = post_json(api, api_url("escalation-policies"), {"name": "Cepat", "steps": steps})
    patch_json(api, api_url("escalation-policies", created.data["id"]), {"name": "Sangat cepat"})
    changes = list(ConfigChange.objects.filter(area="policies").order_by("id"))
    assert [c.action for c in changes] == [Action.CREATE, Action.UPDATE]
    assert changes[0].after == {"name": "Cepat", "steps": steps}
    assert audit.field_changes(changes[1]) == [("name", "Cepat", "Sangat cepat")]


def test_api_changes_to_users_are_logged_without_secrets(api, cilegon):
    created = post_json(
        api, api_url("users"), {"username": "rina", "password": "Rahasia-112!", "role": "operator"}
    )
    user_id = created.data["id"]
    patch_json(api, api_url("users", user_id), {"password": "Rahasia-Baru-112!"})
    api.delete(api_url("users", user_id))
    changes = list(ConfigChange.objects.filter(area="users").order_by("id"))
    assert [c.action for c in changes] == [Action.CREATE, Action.PASSWORD_RESET, Action.DEACTIVATE]
    hashed = User.objects.get(pk=user_id).password
    for change in changes:
        assert "Rahasia" not in f"{change.before} {change.after}"
        assert hashed not in f"{change.before} {change.after}"


def test_a_refused_api_change_logs_nothing(cilegon, supervisor):
    answer = patch_json(api_as(supervisor), api_url("agencies", "DPKP"), {"phone": "0254-111222"})
    assert answer.status_code == 403
    assert not ConfigChange.objects.exists()


# Append-only.


@pytest.fixture
def entry(admin_user, cilegon):
    return audit.record(
        admin_user, fire_rule(), None, via=ConfigChange.Via.DESK, action=Action.CREATE
    )


@requires_postgresql
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE agencies_configchange SET object_repr = 'forged' WHERE id = %s",
        "DELETE FROM agencies_configchange WHERE id = %s",
    ],
)
def test_the_database_refuses_to_rewrite_the_log(entry, statement):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])
    entry.refresh_from_db()
    assert entry.object_repr != "forged"


@requires_postgresql
def test_the_orm_cannot_rewrite_the_log_either(entry):
    with pytest.raises(DatabaseError), transaction.atomic():
        ConfigChange.objects.filter(pk=entry.pk).update(action=Action.DELETE)
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()
    assert ConfigChange.objects.filter(pk=entry.pk, action=Action.CREATE).exists()


def test_the_django_admin_only_reads_the_log(admin_user, entry):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/agencies/configchange/").status_code == 200
    assert client.get("/admin/agencies/configchange/add/").status_code == 403
    assert client.post(f"/admin/agencies/configchange/{entry.pk}/delete/").status_code == 403


# The Django admin: the same log, `via` "admin".


@pytest.fixture
def django_admin(admin_user):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    return client


def test_admin_changes_are_logged_with_many_to_many_fields(django_admin, cilegon):
    bpbd = Agency.objects.get(code="BPBD")
    answer = django_admin.post(
        "/admin/agencies/routingrule/add/",
        {"category": "", "area": "", "agencies": [bpbd.pk], "priority": 900, "is_active": "on"},
    )
    assert answer.status_code == 302
    rule = RoutingRule.objects.get(priority=900)
    django_admin.post(f"/admin/agencies/routingrule/{rule.pk}/delete/", {"post": "yes"})
    changes = list(ConfigChange.objects.filter(area="routing").order_by("id"))
    assert [(c.action, c.via) for c in changes] == [
        (Action.CREATE, "admin"),
        (Action.DELETE, "admin"),
    ]
    assert changes[0].after["agencies"] == ["BPBD"]


def test_an_admin_bulk_delete_logs_each_rule(django_admin, cilegon):
    rules = list(RoutingRule.objects.filter(category__code__in=["FIRE", "CRIME"]))
    django_admin.post(
        "/admin/agencies/routingrule/",
        {"action": "delete_selected", "_selected_action": [r.pk for r in rules], "post": "yes"},
    )
    deleted = ConfigChange.objects.filter(action=Action.DELETE, via="admin")
    assert sorted(deleted.values_list("object_id", flat=True)) == sorted(str(r.pk) for r in rules)
