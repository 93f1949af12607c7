"""API shapes. The same serializers give the `data` of timeline events, so a dashboard applies
an event with the code that renders a fetched object."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from agencies.models import Agency, Area, Category
from agencies.serializers import CodeRelatedField, E164PhoneField
from dispatch.models import Assignment, Incident, IncidentEvent, Notification


class AssignmentSerializer(serializers.ModelSerializer):
    agency = serializers.SlugRelatedField(slug_field="code", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    incident_reference = serializers.CharField(source="incident.reference", read_only=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "incident",
            "incident_reference",
            "agency",
            "status",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "acknowledged_by",
            "en_route_at",
            "on_scene_at",
            "completed_at",
            "declined_at",
            "note",
            "escalation_level",
            "escalation_steps",
            "escalate_at",
        ]
        read_only_fields = fields


INCIDENT_SUMMARY_FIELDS = [
    "id",
    "reference",
    "status",
    "category",
    "priority",
    "description",
    "area",
    "address",
    "latitude",
    "longitude",
    "caller_phone",
    "caller_name",
    "unroutable",
    "created_at",
    "updated_at",
    "dispatched_at",
    "resolved_at",
    "calls",
]


class IncidentSummarySerializer(serializers.ModelSerializer):
    """An incident without its assignments: what every audience of an incident event may see."""

    category = serializers.SlugRelatedField(slug_field="code", read_only=True)
    area = serializers.SlugRelatedField(slug_field="code", read_only=True)
    calls = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = INCIDENT_SUMMARY_FIELDS
        read_only_fields = fields


class IncidentSerializer(IncidentSummarySerializer):
    """The assignments come prefetched through `visibility.assignments_for`, so agency staff
    only ever see their own agency's."""

    assignments = AssignmentSerializer(many=True, read_only=True)

    class Meta(IncidentSummarySerializer.Meta):
        fields = [*INCIDENT_SUMMARY_FIELDS, "assignments"]
        read_only_fields = fields


class IncidentWriteSerializer(serializers.ModelSerializer):
    category = CodeRelatedField(
        slug_field="code", queryset=Category.objects.all(), required=False, allow_null=True
    )
    area = CodeRelatedField(
        slug_field="code", queryset=Area.objects.all(), required=False, allow_null=True
    )
    priority = serializers.IntegerField(min_value=1, max_value=4, required=False, allow_null=True)
    latitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-90"),
        max_value=Decimal("90"),
        required=False,
        allow_null=True,
        coerce_to_string=False,
    )
    longitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal("-180"),
        max_value=Decimal("180"),
        required=False,
        allow_null=True,
        coerce_to_string=False,
    )
    caller_phone = E164PhoneField(required=False, allow_blank=True, max_length=32)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    status = serializers.ChoiceField(choices=Incident.Status.choices, required=False)

    class Meta:
        model = Incident
        fields = [
            "category",
            "priority",
            "description",
            "area",
            "address",
            "latitude",
            "longitude",
            "caller_phone",
            "caller_name",
            "status",
        ]

    # An incident made by hand must give an operator or an agency something to act on: what
    # happened, where, or whom to call back (docs/CONTRACT.md, Extensions).
    ACTIONABLE_FIELDS = ("description", "category", "area", "address", "caller_phone")

    def validate(self, attrs):
        if self.instance is None and not any(attrs.get(name) for name in self.ACTIONABLE_FIELDS):
            raise serializers.ValidationError(
                _("A new incident needs at least one of: %(fields)s.")
                % {"fields": ", ".join(self.ACTIONABLE_FIELDS)}
            )
        return attrs


class DispatchSerializer(serializers.Serializer):
    agencies = CodeRelatedField(
        slug_field="code",
        queryset=Agency.objects.filter(is_active=True),
        many=True,
        required=False,
        allow_empty=False,
        help_text="Agency codes; overrides the routing rules",
    )

    def validate_agencies(self, agencies):
        """A code given twice is one agency: one assignment, not a conflict with itself."""
        return list(dict.fromkeys(agencies))


class AssignmentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[
            Assignment.Status.EN_ROUTE,
            Assignment.Status.ON_SCENE,
            Assignment.Status.COMPLETED,
            Assignment.Status.DECLINED,
        ]
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs):
        if attrs["status"] == Assignment.Status.DECLINED and not attrs["note"].strip():
            raise serializers.ValidationError({"note": _("Give the reason for declining.")})
        return attrs


class TimelineEventSerializer(serializers.ModelSerializer):
    seq = serializers.IntegerField(read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IncidentEvent
        fields = ["seq", "type", "at", "actor", "data"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    agency = serializers.CharField(source="assignment.agency.code", read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "assignment",
            "agency",
            "step",
            "channel",
            "recipient",
            "status",
            "attempts",
            "next_attempt_at",
            "provider_id",
            "error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields
