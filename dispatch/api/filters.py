"""Query filters of the API's lists (django-filter, so the OpenAPI schema documents them). A bad
value is a 400 that names the parameter: DjangoFilterBackend raises the form's errors, keyed by
parameter. Text parameters refuse a NUL character (Django's CharField does), which PostgreSQL
could not compare anyway."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from agencies.models import Area
from dispatch.models import Assignment, Incident, Notification


class ChoicesFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=a,b`: one or more of the choices, comma-separated; an unknown one is a 400."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices=[(value, value) for value in choices], **kwargs)


class WholeNumberField(forms.CharField):
    """Digits only: "²" is a digit to Python but not a number, and "1.5" or "-1" is no id."""

    def clean(self, value):
        value = super().clean(value)
        if value and not value.isdecimal():
            raise forms.ValidationError(_("Must be a whole number (an id)."))
        return value


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """`?incident=<id>`. Filter on the related pk itself (`incident__pk`), not the FK column: an
    id beyond the integer range then matches nothing instead of overflowing the database."""

    field_class = WholeNumberField


class TrueFalseField(forms.Field):
    """true/false, 1/0, yes/no; anything else is a 400 (a typo must not list every call)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise forms.ValidationError(_("Must be true or false."))


class TrueFalseFilter(django_filters.BooleanFilter):
    field_class = TrueFalseField


class FlagField(forms.Field):
    """A switch that is on only as `1` or `true`; any other value leaves the list as it is."""

    def to_python(self, value):
        return True if value in ("1", "true") else None  # None: django-filter skips the filter


class FlagFilter(django_filters.BooleanFilter):
    """`?open=1`: on narrows the list (the filter's method), off or absent does nothing."""

    field_class = FlagField


class AreaFilter(django_filters.FilterSet):
    kind = ChoicesFilter(Area.Kind.values)
    parent = django_filters.CharFilter(field_name="parent__code", help_text="Parent area code")
    q = django_filters.CharFilter(method="search", help_text="Part of the name or an alias")

    class Meta:
        model = Area
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(aliases__icontains=value))


class IncidentFilter(django_filters.FilterSet):
    status = ChoicesFilter(Incident.Status.values)
    open = FlagFilter(method="open_only", help_text="Only open incidents (1 or true)")

    class Meta:
        model = Incident
        fields = []

    def open_only(self, queryset, name, value):
        return queryset.filter(status__in=Incident.OPEN_STATUSES)


class AssignmentFilter(django_filters.FilterSet):
    status = ChoicesFilter(Assignment.Status.values)
    agency = django_filters.CharFilter(field_name="agency__code", help_text="Agency code")
    incident = IdFilter(field_name="incident__pk", help_text="Incident id")
    escalated = FlagFilter(method="escalated_only", help_text="Only escalated (1 or true)")

    class Meta:
        model = Assignment
        fields = []

    def escalated_only(self, queryset, name, value):
        return queryset.filter(escalation_level__gt=0)


class NotificationFilter(django_filters.FilterSet):
    status = ChoicesFilter(Notification.Status.values)
    assignment = IdFilter(field_name="assignment__pk", help_text="Assignment id")

    class Meta:
        model = Notification
        fields = []
