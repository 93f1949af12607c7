"""The API's JSON parser (DRF's default parser, see REST_FRAMEWORK in settings)."""

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request of ours nests deeper than a few levels (an escalation policy: a list of steps).
# Anything deeper is refused before a field, a validator or the database sees it: they walk
# values recursively, and Python's own parser already fails at about a thousand levels.
MAX_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than MAX_DEPTH with a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep() from None
        if nesting_depth(data) > MAX_DEPTH:
            raise too_deep()
        return data


def too_deep():
    return ParseError(
        _("JSON parse error - nested more than %(depth)d levels deep.") % {"depth": MAX_DEPTH}
    )


def nesting_depth(data):
    """How many arrays and objects deep `data` goes, walked without recursion."""
    deepest = 0
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break  # already too deep: no need to walk the rest
        pending.extend((item, depth + 1) for item in value)
    return deepest
