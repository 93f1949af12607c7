"""Load the reference data idempotently: run it twice, get the same rows."""

from decimal import Decimal

from django.db import transaction

from agencies import cilegon
from agencies.models import Agency, Area, Category, EscalationPolicy, RoutingRule, User


def centroid(code):
    """The area's map point as the model's fields; none for an area the table lacks."""
    latitude, longitude = cilegon.CENTROIDS.get(code, (None, None))
    if latitude is None:
        return {"latitude": None, "longitude": None}
    return {"latitude": Decimal(str(latitude)), "longitude": Decimal(str(longitude))}


def seed_areas():
    for code, name, aliases, kelurahan in cilegon.KECAMATAN:
        kecamatan, _ = Area.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": Area.Kind.KECAMATAN,
                "parent": None,
                "aliases": aliases,
                **centroid(code),
            },
        )
        for number, kelurahan_name in enumerate(kelurahan, start=1001):
            kelurahan_code = f"{code}.{number}"
            Area.objects.update_or_create(
                code=kelurahan_code,
                defaults={
                    "name": kelurahan_name,
                    "kind": Area.Kind.KELURAHAN,
                    "parent": kecamatan,
                    "aliases": cilegon.KELURAHAN_ALIASES.get(kelurahan_name, ""),
                    **centroid(kelurahan_code),
                },
            )


def seed_policy():
    policy, created = EscalationPolicy.objects.get_or_create(
        name=cilegon.DEFAULT_POLICY_NAME, defaults={"steps": cilegon.DEFAULT_POLICY_STEPS}
    )
    return policy


def seed_agencies(policy):
    for code, name, phone in cilegon.AGENCIES:
        agency, created = Agency.objects.get_or_create(
            code=code, defaults={"name": name, "phone": phone, "escalation_policy": policy}
        )


def seed_categories_and_routing():
    """A category gets its default rule (category, any area) when the seed creates it: a
    reseed never overwrites — nor brings back — a city's own routing."""
    for code, name, priority, agency_codes in cilegon.CATEGORIES:
        category, created = Category.objects.get_or_create(
            code=code, defaults={"name": name, "default_priority": priority}
        )
        if not created or not agency_codes:
            continue
        rule = RoutingRule.objects.create(category=category, area=None, priority=100)
        rule.agencies.set(Agency.objects.filter(code__in=agency_codes))


def seed_demo_users(password):
    accounts = list(cilegon.DEMO_COMMAND_CENTRE_USERS) + [
        (code.lower(), "agency_staff") for code, _name, _phone in cilegon.AGENCIES
    ]
    for username, role in accounts:
        agency = Agency.objects.get(code=username.upper()) if role == "agency_staff" else None
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "role": role,
                "agency": agency,
                "is_active": True,
                "is_staff": role == "admin",
                "is_superuser": role == "admin",
            },
        )
        # Re-hashing an unchanged password would sign every demo user out at each restart.
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
    return [username for username, _role in accounts]


@transaction.atomic
def seed_cilegon():
    seed_areas()
    policy = seed_policy()
    seed_agencies(policy)
    seed_categories_and_routing()
