"""`seed_cilegon` (CONTRACT §3): the Cilegon reference data, idempotent, never overwriting what
a city changed. The expected values are written out here from ../shared/reference/cilegon.md,
not read from agencies/cilegon.py, so a typo there shows up."""

import io
import re

import pytest
from django.core.management import call_command

from agencies.models import Agency, Area, Category, EscalationPolicy, RoutingRule, User
from agencies.seed import seed_cilegon

# Kepmendagri No. 300.2.2-2430 Tahun 2025: kelurahan codes run in this order from .1001.
KECAMATAN = {
    "36.72.01": (
        "Cibeber",
        ["Cibeber", "Kedaleman", "Bulakan", "Cikerai", "Karang Asem", "Kalitimbang"],
    ),
    "36.72.02": ("Cilegon", ["Bagendung", "Ciwedus", "Bendungan", "Ketileng", "Ciwaduk"]),
    "36.72.03": ("Pulomerak", ["Tamansari", "Lebakgede", "Mekarsari", "Suralaya"]),
    "36.72.04": (
        "Ciwandan",
        ["Banjar Negara", "Tegal Ratu", "Kubangsari", "Gunung Sugih", "Kepuh", "Randakari"],
    ),
    "36.72.05": (
        "Jombang",
        ["Sukmajaya", "Jombang Wetan", "Masigit", "Panggung Rawi", "Gedong Dalem"],
    ),
    "36.72.06": ("Grogol", ["Kotasari", "Grogol", "Rawa Arum", "Gerem"]),
    "36.72.07": (
        "Purwakarta",
        ["Ramanuju", "Kotabumi", "Kebon Dalem", "Purwakarta", "Tegal Bunder", "Pabean"],
    ),
    "36.72.08": (
        "Citangkil",
        [
            "Warnasari",
            "Dringo",
            "Lebak Denok",
            "Taman Baru",
            "Kebonsari",
            "Samangraya",
            "Citangkil",
        ],
    ),
}

AGENCY_CODES = [
    "BPBD",
    "DINSOS",
    "DISHUB",
    "DLH",
    "DPKP",
    "DPUTR",
    "POLRES",
    "PSC119",
    "RSUD",
    "SATPOLPP",
]

# code: (default priority, default agencies)
CATEGORIES = {
    "FIRE": (1, ["DPKP"]),
    "MEDICAL": (1, ["PSC119"]),
    "TRAFFIC": (1, ["DISHUB", "POLRES", "PSC119"]),
    "CRIME": (2, ["POLRES"]),
    "DISASTER": (1, ["BPBD", "DPKP"]),
    "INDUSTRIAL": (1, ["BPBD", "DLH", "DPKP"]),
    "RESCUE": (2, ["DPKP"]),
    "TREE": (2, ["BPBD", "DLH"]),
    "PUBLIC_ORDER": (3, ["SATPOLPP"]),
    "SOCIAL": (3, ["DINSOS"]),
    "VIOLENCE": (2, ["DINSOS", "POLRES"]),
    "INFRA": (4, ["DPUTR"]),
    "OTHER": (4, []),
}


def snapshot():
    """Every seeded row and value, to compare one seeding with the next."""
    return {
        "areas": list(Area.objects.order_by("code").values()),
        "agencies": list(Agency.objects.order_by("code").values()),
        "categories": list(Category.objects.order_by("code").values()),
        "policies": list(EscalationPolicy.objects.order_by("name").values()),
        "rules": [
            (rule.pk, rule.category_id, rule.area_id, rule.priority, rule.is_active)
            + tuple(sorted(rule.agencies.values_list("code", flat=True)))
            for rule in RoutingRule.objects.order_by("pk")
        ],
    }


def default_agencies(category_code):
    return [
        sorted(rule.agencies.values_list("code", flat=True))
        for rule in RoutingRule.objects.filter(category__code=category_code)
    ]


def test_areas_with_kemendagri_codes(db):
    seed_cilegon()

    kecamatan = Area.objects.filter(kind=Area.Kind.KECAMATAN)
    assert {a.code: a.name for a in kecamatan} == {c: n for c, (n, _kel) in KECAMATAN.items()}
    assert Area.objects.filter(kind=Area.Kind.KELURAHAN).count() == 43
    for kecamatan_code, (_name, kelurahan) in KECAMATAN.items():
        expected = {f"{kecamatan_code}.{1001 + i}": name for i, name in enumerate(kelurahan)}
        children = Area.objects.filter(parent__code=kecamatan_code, kind=Area.Kind.KELURAHAN)
        assert {a.code: a.name for a in children} == expected
    assert Area.objects.get(code="36.72.08.1007").name == "Citangkil"
    assert Area.objects.get(code="36.72.03.1004").name == "Suralaya"
    assert Area.objects.get(code="36.72.03.1004").kecamatan.name == "Pulomerak"
    assert "Pulo Merak" in Area.objects.get(code="36.72.03").aliases
    assert "Deringo" in Area.objects.get(name="Dringo").aliases


def test_agencies_categories_routing_and_policy(db):
    seed_cilegon()

    assert sorted(Agency.objects.values_list("code", flat=True)) == AGENCY_CODES
    assert Agency.objects.get(code="DPKP").phone == "+62254377113"
    assert {c.code: c.default_priority for c in Category.objects.all()} == {
        code: priority for code, (priority, _agencies) in CATEGORIES.items()
    }
    for code, (_priority, agencies) in CATEGORIES.items():
        assert default_agencies(code) == ([agencies] if agencies else []), code
    # The defaults are "this category, anywhere"; no catch-all rule.
    assert not RoutingRule.objects.filter(category__isnull=True).exists()
    assert not RoutingRule.objects.filter(area__isnull=False).exists()

    [policy] = EscalationPolicy.objects.all()
    assert policy.steps
    assert [step["after_seconds"] for step in policy.steps] == sorted(
        step["after_seconds"] for step in policy.steps
    )
    assert set(Agency.objects.values_list("escalation_policy", flat=True)) == {policy.pk}


def test_seeding_twice_changes_nothing(db):
    seed_cilegon()
    first = snapshot()
    seed_cilegon()
    assert snapshot() == first
    call_command("seed_cilegon", stdout=io.StringIO())
    assert snapshot() == first


def test_reseeding_keeps_what_the_city_changed(db):
    seed_cilegon()
    citangkil = Area.objects.get(code="36.72.08")
    fire = Category.objects.get(code="FIRE")
    # An admin routes fires in Citangkil to DPKP and BPBD and drops the city-wide default…
    RoutingRule.objects.filter(category=fire).delete()
    own = RoutingRule.objects.create(category=fire, area=citangkil, priority=10)
    own.agencies.set(Agency.objects.filter(code__in=["DPKP", "BPBD"]))
    # …adds BPBD to the medical default, lowers a priority, edits the policy and detaches one.
    medical_rule = RoutingRule.objects.get(category__code="MEDICAL")
    medical_rule.agencies.add(Agency.objects.get(code="RSUD"))
    Category.objects.filter(code="INFRA").update(default_priority=3)
    policy = EscalationPolicy.objects.get()
    policy.steps = [{"after_seconds": 30, "action": "notify_supervisors"}]
    policy.save()
    Agency.objects.filter(code="RSUD").update(escalation_policy=None)
    before = snapshot()

    seed_cilegon()

    assert snapshot() == before
    assert list(RoutingRule.objects.filter(category=fire)) == [own]
    assert default_agencies("MEDICAL") == [["PSC119", "RSUD"]]


def test_demo_users(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-Pass-112")
    out = io.StringIO()

    call_command("seed_cilegon", "--demo-users", stdout=out)

    expected = {
        "admin": ("admin", None),
        "supervisor": ("supervisor", None),
        "operator1": ("operator", None),
        "operator2": ("operator", None),
    } | {code.lower(): ("agency_staff", code) for code in AGENCY_CODES}
    users = User.objects.select_related("agency")
    assert {u.username: (u.role, u.agency.code if u.agency else None) for u in users} == expected
    for user in users:
        assert user.check_password("demo-Pass-112"), user.username
        assert user.is_active
        assert (user.is_staff, user.is_superuser) == (
            (True, True) if user.role == "admin" else (False, False)
        )
    assert User.objects.get(username="dpkp").agency.code == "DPKP"
    assert User.objects.get(username="psc119").agency.code == "PSC119"

    # Again, with another password: the same accounts, the new password.
    monkeypatch.setenv("DEMO_PASSWORD", "other-Pass-112")
    call_command("seed_cilegon", "--demo-users", stdout=io.StringIO())
    assert User.objects.count() == len(expected)
    assert User.objects.get(username="operator1").check_password("other-Pass-112")


def test_demo_password_is_generated_and_printed_when_not_given(db, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    out = io.StringIO()

    call_command("seed_cilegon", "--demo-users", stdout=out)

    match = re.search(r"password: (\S+)", out.getvalue())
    assert match, out.getvalue()
    assert len(match.group(1)) >= 12
    assert User.objects.get(username="supervisor").check_password(match.group(1))


@pytest.mark.parametrize("username", ["admin", "operator1", "dpkp"])
def test_demo_users_are_not_created_without_the_flag(db, username):
    call_command("seed_cilegon", stdout=io.StringIO())
    assert not User.objects.filter(username=username).exists()
