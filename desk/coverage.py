"""Where an incident would find no routing rule: every category × kecamatan that the rules
leave with the command centre, asked of the same function dispatch routes with."""

from agencies.models import Area, Category
from dispatch import routing


def uncovered():
    """`[(category, [kecamatan…])]`: for each category, the kecamatan where no active rule
    matches it; categories every kecamatan covers are left out."""
    kecamatan = list(Area.objects.filter(kind=Area.Kind.KECAMATAN))
    gaps = []
    for category in Category.objects.all():
        # A rule that wins for the category with no place has no area: it matches the
        # category in every kecamatan, so those need no asking one by one.
        if routing.winning_rule(category, None) is not None:
            continue
        missing = [area for area in kecamatan if routing.winning_rule(category, area) is None]
        if missing:
            gaps.append((category, missing))
    return gaps
