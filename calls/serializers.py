from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calls.history import caller_history
from calls.models import TEXT_MAX_LENGTH, Call, Message
from dispatch.serialized import serialized


class CallerHistorySerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    pranks = serializers.IntegerField()
    last_call_at = serializers.DateTimeField(allow_null=True)


class CallSerializer(serializers.ModelSerializer):
    picked_up_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    caller_history = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = [
            "id",
            "sid",
            "channel",
            "direction",
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
            "queue_state",
            "queue_result",
            "picked_up_by",
            "picked_up_at",
            "wait_seconds",
            "abandoned",
            "missed",
            "missed_settlement",
            "missed_settled_at",
            "missed_reason",
            "callback_of",
            "caller_history",
            "updated_at",
        ]
        read_only_fields = [name for name in fields if name != "classification"]

    @extend_schema_field(CallerHistorySerializer)
    def get_caller_history(self, call):
        return serialized(CallerHistorySerializer, caller_history(call))


class ResolveMissedSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class SoftphoneTokenSerializer(serializers.Serializer):
    identity = serializers.CharField()
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class MessageSerializer(serializers.ModelSerializer):
    """A text of an incident's conversation (CONTRACT §10). `body` is the caller's or the
    operator's text as sent: a client shows it as text, never as markup."""

    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "incident",
            "direction",
            "body",
            "at",
            "author",
            "status",
            "error",
            "updated_at",
        ]
        read_only_fields = fields


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=TEXT_MAX_LENGTH, trim_whitespace=True)
