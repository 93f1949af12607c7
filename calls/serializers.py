from rest_framework import serializers

from calls.models import Call


class CallSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = [
            "id",
            "sid",
            "channel",
            "from_number",
            "to_number",
            "status",
            "classification",
            "body",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "incident",
        ]
        read_only_fields = [name for name in fields if name != "classification"]
