"""Lists served from database rows in exactly the serializers' shapes.

A page of 200 incidents through DRF builds 400 model instances, a related manager per incident
and relation (prefetch_related), and walks every serializer field per object: most of the time
the consoles' lists took (bench/year.py). A `RowShape` reads the serializer once: for each field
the column to fetch with `values()` and the serializer field's own `to_representation`. A row
then becomes the same dict the serializer gives, field for field and in its order, so the
serializers stay the one definition of each shape (the schema, single objects and the events'
payloads use them; tests/dispatch/test_rows.py holds both paths equal)."""

from collections import defaultdict

from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from dispatch import visibility
from dispatch.api.serializers import IncidentSerializer
from dispatch.events import EventEnvelopeSerializer, envelope_type
from dispatch.models import Incident
from dispatch.payloads import AssignmentSerializer


def identity(value):
    return value


class Moment:
    """A DateTimeField's ISO 8601 text, as DRF writes it (DateTimeField.to_representation), with
    the time zone looked up once per page instead of once per value: DRF's per-value look-up
    of the current zone was the largest single cost of a page."""

    def __init__(self, zone):
        self.zone = zone

    def __call__(self, value):
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


def is_plain_moment(field):
    """A DateTimeField in DRF's default ISO 8601 format and the current time zone."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return (
        isinstance(field, serializers.DateTimeField)
        and isinstance(output_format, str)
        and output_format.lower() == ISO_8601
        and not hasattr(field, "timezone")
    )


def column_of(field):
    """The `values()` lookup that holds a field's value, and how the field shows it."""
    lookup = field.source.replace(".", "__")
    if isinstance(field, serializers.SlugRelatedField):
        return f"{lookup}__{field.slug_field}", identity
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
        return lookup, identity  # `values()` gives the related object's pk itself
    if isinstance(field, (serializers.RelatedField, serializers.ManyRelatedField)):
        raise TypeError(f"{field.field_name}: no column holds a {type(field).__name__}")
    if isinstance(field, (serializers.BaseSerializer, serializers.SerializerMethodField)):
        raise TypeError(f"{field.field_name}: a {type(field).__name__} is not a column")
    if is_plain_moment(field):
        return lookup, Moment
    return lookup, field.to_representation


class RowShape:
    """A read-only serializer's output from `values()` rows. Fields that are no column (nested
    lists, many-related ids, computed values) are named in `given`; the caller passes their
    values for each row."""

    def __init__(self, serializer_class, given=()):
        self.columns = []
        for name, field in serializer_class().fields.items():
            if name in given:
                self.columns.append((name, None, None))
            else:
                self.columns.append((name, *column_of(field)))
        self.lookups = list(dict.fromkeys(lookup for _, lookup, _ in self.columns if lookup))

    def represent(self, rows, given=lambda row: None):
        """The rows' dicts; `given(row)` returns the row's values of the `given` fields."""
        zone = timezone.get_current_timezone()
        columns = [
            (name, lookup, Moment(zone) if show is Moment else show)
            for name, lookup, show in self.columns
        ]
        return [self.represent_row(columns, row, given(row)) for row in rows]

    @staticmethod
    def represent_row(columns, row, given):
        shown = {}
        for name, lookup, show in columns:
            if lookup is None:
                shown[name] = given[name]
            else:
                value = row[lookup]
                # As DRF's Serializer.to_representation: None is null, whatever the field.
                shown[name] = None if value is None else show(value)
        return shown


INCIDENT = RowShape(IncidentSerializer, given=("calls", "assignments"))
ASSIGNMENT = RowShape(AssignmentSerializer)
# The envelope's `type` is computed from the timeline type, which `event` holds.
EVENT = RowShape(EventEnvelopeSerializer, given=("type",))


class Rows:
    """What a paginator needs of a queryset (count, slice), with the page fetched as the rows of
    a shape. The count is the queryset's own: the joins that fetch related codes and names would
    make PostgreSQL count through them too."""

    def __init__(self, queryset, shape):
        self.queryset = queryset
        self.shape = shape

    @property
    def ordered(self):
        return self.queryset.ordered

    def count(self):
        return self.queryset.count()

    def __getitem__(self, index):
        return self.queryset.values(*self.shape.lookups)[index]


def incident_rows(queryset):
    return Rows(queryset, INCIDENT)


def assignment_rows(queryset):
    return Rows(queryset, ASSIGNMENT)


def event_rows(queryset):
    return Rows(queryset, EVENT)


def assignments(rows):
    return ASSIGNMENT.represent(rows)


def incidents(rows, user):
    """A page of incident rows with their calls (ids) and the assignments `user` may see, in
    two queries for the whole page; each relation in the order its model sorts by, as the
    prefetch of a single incident (IncidentViewSet.retrieve) gives it."""
    ids = [row["id"] for row in rows]
    calls = defaultdict(list)
    call_model = Incident._meta.get_field("calls").related_model  # calls sits above dispatch
    for incident_id, call_id in call_model.objects.filter(incident_id__in=ids).values_list(
        "incident_id", "id"
    ):
        calls[incident_id].append(call_id)
    held = defaultdict(list)
    seen = visibility.assignments_for(user).filter(incident_id__in=ids)
    for assignment in ASSIGNMENT.represent(seen.values(*ASSIGNMENT.lookups)):
        held[assignment["incident"]].append(assignment)
    return INCIDENT.represent(
        rows, lambda row: {"calls": calls[row["id"]], "assignments": held[row["id"]]}
    )


def events(rows, timeline=False):
    """Event rows in the envelope: `type` is the timeline type on an incident's timeline and
    the envelope type elsewhere (EventEnvelopeSerializer.get_type)."""
    type_of = identity if timeline else envelope_type
    return EVENT.represent(rows, lambda row: {"type": type_of(row["type"])})
