"""Query filters of the call list (CONTRACT §9), documented in the OpenAPI schema."""

import django_filters

from agencies.phones import to_e164_or_raw
from calls.models import CALL_STATUS_RANK, Call
from dispatch.api.filters import ChoicesFilter, TrueFalseFilter


class CallFilter(django_filters.FilterSet):
    status = ChoicesFilter(sorted(CALL_STATUS_RANK))
    queue_state = ChoicesFilter(Call.QueueState.values)
    direction = ChoicesFilter(Call.Direction.values)
    missed = TrueFalseFilter(help_text="true or false")
    from_number = django_filters.CharFilter(
        method="caller", help_text="The caller's number, in any format (0812…, +62812…)"
    )

    class Meta:
        model = Call
        fields = []

    def caller(self, queryset, name, value):
        return queryset.filter(from_number=to_e164_or_raw(value))
