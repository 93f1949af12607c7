"""Query filters of the API's lists (django-filter, so the OpenAPI schema documents them). A bad
value is a 400 that names the parameter: DjangoFilterBackend raises the form's errors, keyed by
parameter. Text parameters refuse a NUL character (Django's CharField does), which PostgreSQL
could not compare anyway."""

from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from django_filters.widgets import BaseCSVWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from agencies.models import Agency, Area, Category
from agencies.phones import InvalidPhoneNumber, to_e164
from dispatch.models import Assignment, Incident, Notification


class RepeatableCSVWidget(BaseCSVWidget, forms.TextInput):
    """`?status=a,b`, `?status=a&status=b`, or both: every value given, comma-split."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist") and len(data.getlist(name)) > 1:
            return [part for value in data.getlist(name) for part in value.split(",")]
        return super().value_from_datadict(data, files, name)


class ChoicesFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=a,b` or `?status=a&status=b`: one or more of the choices; an unknown one is a
    400."""

    def __init__(self, choices, **kwargs):
        super().__init__(
            choices=[(value, value) for value in choices], widget=RepeatableCSVWidget, **kwargs
        )


@extend_schema_field(OpenApiTypes.STR)
class CodeFilter(django_filters.ModelChoiceFilter):
    """`?agency=DPKP`: a code of the queryset; an unknown one is a 400."""

    def __init__(self, queryset, **kwargs):
        super().__init__(queryset=queryset, to_field_name="code", **kwargs)


class DateOrDateTimeField(forms.Field):
    """An ISO 8601 date (a whole WIB day) or date and time (WIB unless it names its offset).
    Cleans to (aware datetime, is_whole_day)."""

    # Far enough from year 1 and 9999 that a WIB midnight or a day later is still a datetime.
    YEARS = range(1900, 9999)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            day = parse_date(value)
            moment = None if day else parse_datetime(value)
        except ValueError:  # well formed but no such day or time ("2026-02-30")
            day = moment = None
        if day is not None and day.year in self.YEARS:
            return timezone.make_aware(datetime.combine(day, time.min)), True
        if moment is not None and moment.year in self.YEARS:
            return (moment if timezone.is_aware(moment) else timezone.make_aware(moment)), False
        raise forms.ValidationError(_("Must be an ISO 8601 date or date and time."))


@extend_schema_field(OpenApiTypes.STR)
class CreatedFilter(django_filters.Filter):
    """`created_after` (from this instant or day on) and `created_before` (before this instant,
    or up to the end of this day): a day is the WIB day, so both ends of "28 Nov" are WIB
    midnights."""

    field_class = DateOrDateTimeField

    def filter(self, queryset, value):
        if value is None:
            return queryset
        moment, whole_day = value
        if self.lookup_expr == "gte":
            return queryset.filter(created_at__gte=moment)
        return queryset.filter(created_at__lt=moment + timedelta(days=1) if whole_day else moment)


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


def phone_or_none(text):
    try:
        return to_e164(text)
    except InvalidPhoneNumber:
        return None


class IncidentFilter(django_filters.FilterSet):
    """The consoles' lists and the history's search."""

    status = ChoicesFilter(Incident.Status.values)
    open = FlagFilter(method="open_only", help_text="Only open incidents (1 or true)")
    ended = FlagFilter(
        method="ended_only", help_text="Only resolved, closed and cancelled incidents (1 or true)"
    )
    q = django_filters.CharFilter(
        method="search",
        help_text="Part of the reference, description or address, or the caller's number in "
        "any format (0812…, +62812…)",
    )
    category = CodeFilter(Category.objects.all(), field_name="category", help_text="Category code")
    kecamatan = CodeFilter(
        Area.objects.filter(kind=Area.Kind.KECAMATAN),
        method="in_kecamatan",
        help_text="Kecamatan code: incidents in it or in one of its kelurahan",
    )
    agency = CodeFilter(
        Agency.objects.all(), method="held_by", help_text="Agency code: incidents assigned to it"
    )
    created_after = CreatedFilter(
        lookup_expr="gte", help_text="ISO 8601 date (WIB day) or date and time; inclusive"
    )
    created_before = CreatedFilter(
        lookup_expr="lt",
        help_text="ISO 8601 date (the whole WIB day included) or date and time (exclusive)",
    )

    class Meta:
        model = Incident
        fields = []

    def open_only(self, queryset, name, value):
        return queryset.filter(status__in=Incident.OPEN_STATUSES)

    def ended_only(self, queryset, name, value):
        return queryset.filter(status__in=Incident.ENDED_STATUSES)

    def search(self, queryset, name, value):
        """The reference, the description or the address holding the text, or the caller's
        number — the incident's or one of its calls' (an operator may have corrected
        `caller_phone`). Each way to match is a look-up of its own index (trigram indexes on the
        texts, migration dispatch 0009), and the ids are united: one OR across them makes
        PostgreSQL read the whole table."""
        text = value.strip()
        ways = [
            Q(reference__icontains=text),
            Q(description__icontains=text),
            Q(address__icontains=text),
        ]
        phone = phone_or_none(text)
        if phone:
            ways += [Q(caller_phone=phone), Q(calls__from_number=phone)]
        matching = [Incident.objects.filter(way).order_by().values("id") for way in ways]
        return queryset.filter(id__in=matching[0].union(*matching[1:]))

    def in_kecamatan(self, queryset, name, value):
        return queryset.filter(Q(area=value) | Q(area__parent=value))

    def held_by(self, queryset, name, value):
        return queryset.filter(id__in=Assignment.objects.filter(agency=value).values("incident_id"))


class AssignmentFilter(django_filters.FilterSet):
    status = ChoicesFilter(Assignment.Status.values)
    agency = django_filters.CharFilter(field_name="agency__code", help_text="Agency code")
    incident = IdFilter(field_name="incident__pk", help_text="Incident id")
    escalated = FlagFilter(method="escalated_only", help_text="Only escalated (1 or true)")
    incident_status = ChoicesFilter(
        Incident.Status.values,
        field_name="incident__status",
        help_text="The incident's status, one or more (comma-separated)",
    )

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
