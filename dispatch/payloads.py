"""The objects events carry in their `data`, in the shape the API shows them: a dashboard
applies an event with the code that renders a fetched object. The domain builds event payloads
with these and the API serves them, so the domain never imports the API."""

from rest_framework import serializers

from dispatch.models import Assignment, Incident, Notification


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
    "location_accuracy_m",
    "location_source",
    "aml_latitude",
    "aml_longitude",
    "aml_accuracy_m",
    "aml_at",
    "aml_method",
    "caller_phone",
    "caller_name",
    "close_reason",
    "unroutable",
    "merged_into",
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
