"""Routing rules → the agencies that receive an incident (CONTRACT §5, "Routing").

The active rules that match category C in kecamatan K are those with category C or any, and
area K or any; a kelurahan routes by its kecamatan. The most specific wins (category+area, then
category, then area, then catch-all); ties go to the lowest priority, then the oldest rule.
Every active agency of the winning rule gets an assignment; no match leaves the incident with
the command centre.
"""

from django.db.models import Q

from agencies.models import RoutingRule


def specificity(rule):
    return (rule.category_id is not None) * 2 + (rule.area_id is not None)


def winning_rule(category, kecamatan):
    rules = RoutingRule.objects.filter(
        Q(category=category) | Q(category__isnull=True) if category else Q(category__isnull=True),
        Q(area=kecamatan) | Q(area__isnull=True) if kecamatan else Q(area__isnull=True),
        is_active=True,
    ).prefetch_related("agencies")
    ranked = sorted(rules, key=lambda rule: (-specificity(rule), rule.priority, rule.id))
    return ranked[0] if ranked else None


def route(category, area):
    """The rule that wins for a category in an area (kelurahan or kecamatan; either may be
    None) and its active agencies: `(rule, [agency…])`, `(None, [])` when nothing matches.
    Dispatch, its preview and the simulator all ask this one function, so they cannot differ."""
    rule = winning_rule(category, area.kecamatan if area else None)
    if rule is None:
        return None, []
    agencies = sorted((a for a in rule.agencies.all() if a.is_active), key=lambda a: a.code)
    return rule, agencies


def preview(category, area):
    """`route` as the API answers it: `{"rule": id or None, "agencies": [codes]}`."""
    rule, agencies = route(category, area)
    return {"rule": rule.id if rule else None, "agencies": [agency.code for agency in agencies]}
