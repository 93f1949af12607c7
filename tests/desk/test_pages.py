"""What the desk's pages show and refuse: the rules' gaps, policy steps in minutes checked by
the one policy validator (in Bahasa Indonesia), and the forms' validation."""

import pytest
from django.test import Client

from agencies.models import Area, Category, ConfigChange, EscalationPolicy, RoutingRule
from desk import coverage
from dispatch import routing
from tests.desk.test_audit import steps_form


@pytest.fixture
def desk(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


def page(client, url):
    answer = client.get(url)
    assert answer.status_code == 200
    return answer.content.decode()


# Routing: the gaps.


def test_the_seeded_rules_leave_only_other_with_the_command_centre(cilegon):
    gaps = coverage.uncovered()
    assert [category.code for category, _areas in gaps] == ["OTHER"]
    assert len(gaps[0][1]) == Area.objects.filter(kind="kecamatan").count()


def test_a_gap_is_exactly_where_dispatch_finds_no_rule(cilegon):
    """Rules on every level, one inactive: the gaps are the pairs dispatch cannot route."""
    fire, medical = Category.objects.get(code="FIRE"), Category.objects.get(code="MEDICAL")
    citangkil, cibeber = Area.objects.get(code="36.72.08"), Area.objects.get(code="36.72.01")
    RoutingRule.objects.filter(category=fire).update(area=citangkil)
    RoutingRule.objects.filter(category=medical).update(is_active=False)
    RoutingRule.objects.create(category=None, area=cibeber)
    gaps = dict(coverage.uncovered())
    for category in Category.objects.all():
        for area in Area.objects.filter(kind="kecamatan"):
            unroutable = routing.winning_rule(category, area) is None
            assert (area in gaps.get(category, [])) == unroutable, (category, area)
    assert citangkil not in gaps[fire]
    assert cibeber not in gaps[medical]
    assert len(gaps[medical]) == Area.objects.filter(kind="kecamatan").count() - 1


def test_a_catch_all_rule_closes_every_gap(cilegon):
    rule = RoutingRule.objects.create(category=None, area=None, priority=1000)
    rule.agencies.set([])
    assert coverage.uncovered() == []


def test_the_routing_page_warns_of_the_gaps_and_offers_the_simulator(desk, cilegon):
    html = page(desk, "/config/routing/")
    assert 'data-testid="routing-gaps"' in html
    assert "Lainnya / informasi" in html
    assert "setiap kecamatan" in html
    assert 'id="sim-category"' in html
    assert 'value="36.72.08.1007"' in html  # a kelurahan may be chosen
    assert "js/desk_simulator.js" in html


def test_a_rule_needs_an_agency_and_a_kecamatan(desk, cilegon):
    kelurahan = Area.objects.get(code="36.72.08.1007")
    answer = desk.post("/config/routing/new/", {"area": kelurahan.pk, "priority": 1})
    assert answer.status_code == 200
    errors = answer.context["form"].errors
    assert set(errors) == {"area", "agencies"}
    assert not RoutingRule.objects.filter(priority=1).exists()
    assert "Kolom ini wajib diisi." in answer.content.decode()


# Escalation policies as steps.


def test_the_policy_page_shows_steps_in_minutes_with_their_labels(desk, cilegon):
    policy = EscalationPolicy.objects.get()
    html = page(desk, f"/config/policies/{policy.pk}/")
    assert 'name="steps-0-delay_minutes" value="1"' in html
    assert 'name="steps-4-delay_minutes" value="10"' in html
    assert "Kirim SMS ke telepon piket" in html or "SMS" in html
    assert 'id="step-template"' in html


def test_steps_are_stored_in_seconds_in_the_order_given(desk, cilegon):
    answer = desk.post(
        "/config/policies/new/", steps_form("Kilat", [(1, "notify_agency"), (3, "reroute")])
    )
    assert answer.status_code == 302
    assert EscalationPolicy.objects.get(name="Kilat").steps == [
        {"after_seconds": 60, "action": "notify_agency"},
        {"after_seconds": 180, "action": "reroute"},
    ]


def test_a_removed_row_and_an_empty_row_are_no_steps(desk, cilegon):
    data = steps_form("Kilat", [(1, "notify_agency"), (2, "sms_agency"), ("", "")])
    data["steps-1-DELETE"] = "on"
    assert desk.post("/config/policies/new/", data).status_code == 302
    assert EscalationPolicy.objects.get(name="Kilat").steps == [
        {"after_seconds": 60, "action": "notify_agency"}
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(5, "notify_agency"), (3, "reroute")], "Langkah 2: jeda"),
        ([(2, "notify_agency"), (2, "reroute")], "Langkah 2: jeda"),
        ([(0, "notify_agency")], "Pastikan nilai ini lebih besar dari atau sama dengan 1."),
        ([(1, "launch_rockets")], "Masukkan pilihan yang valid."),
        ([("", "")], "Kebijakan memerlukan setidaknya satu langkah."),
        ([(20000, "notify_agency")], "Pastikan nilai ini lebih kecil dari atau sama dengan"),
    ],
)
def test_invalid_steps_are_refused_in_indonesian(desk, cilegon, rows, message):
    answer = desk.post("/config/policies/new/", steps_form("Salah", rows))
    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert not EscalationPolicy.objects.filter(name="Salah").exists()
    assert not ConfigChange.objects.exists()


# Agencies and users.


def test_an_agency_cannot_back_itself_up(desk, cilegon):
    html = page(desk, "/config/agencies/DPKP/")
    form = html[html.index('name="backup_agency"') :]
    form = form[: form.index("</select>")]
    assert ">DPKP ·" not in form
    assert ">BPBD ·" in form


def test_a_bad_duty_phone_is_refused(desk, cilegon):
    answer = desk.post("/config/agencies/DPKP/", {"name": "DPKP", "phone": "12", "is_active": "on"})
    assert answer.status_code == 200
    assert "phone" in answer.context["form"].errors


def test_agency_staff_must_belong_to_an_agency(admin_user, cilegon):
    client = Client()
    client.force_login(admin_user)
    answer = client.post(
        "/config/users/new/",
        {"username": "tono", "password": "Kata-Sandi-112!", "role": "agency_staff"},
    )
    assert answer.status_code == 200
    assert "agency" in answer.context["form"].errors


def test_a_weak_password_is_refused(admin_user, cilegon):
    client = Client()
    client.force_login(admin_user)
    answer = client.post(
        "/config/users/new/", {"username": "tono", "password": "123", "role": "operator"}
    )
    assert answer.status_code == 200
    assert "password" in answer.context["form"].errors


@pytest.mark.parametrize(
    "change", [{"role": "admin", "is_active": ""}, {"role": "supervisor", "is_active": "on"}]
)
def test_an_admin_cannot_lock_themselves_out(admin_user, change):
    client = Client()
    client.force_login(admin_user)
    answer = client.post(f"/config/users/{admin_user.pk}/", {"agency": "", "phone": ""} | change)
    assert answer.status_code == 200
    assert "Anda tidak dapat menonaktifkan diri sendiri" in answer.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.role == "admin"
