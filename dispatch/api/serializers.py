"""API shapes. The read shapes that events also carry (incident summary, assignment,
notification) live beside the events, in `dispatch.payloads`."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from agencies.models import Agency, Area, Category
from agencies.serializers import CodeRelatedField, E164PhoneField
from dispatch.models import Assignment, Incident
from dispatch.payloads import (
    INCIDENT_SUMMARY_FIELDS,
    AssignmentSerializer,
    IncidentSummarySerializer,
)


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
    close_reason = serializers.ChoiceField(
        choices=Incident.CloseReason.choices,
        required=False,
        help_text="Why it is closed; only with status closed (docs/CONTRACT.md, Extensions)",
    )

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
            "close_reason",
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
        if "close_reason" in attrs and attrs.get("status") != Incident.Status.CLOSED:
            raise serializers.ValidationError(
                {"close_reason": _("A close reason goes with status closed.")}
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
