"""`GET /api/v1/reports/summary/?since=&until=` (CONTRACT §11): the report of a period, as JSON
or, with `&format=csv`, as CSV (reports.renderers). Supervisors and admins only."""

from datetime import datetime

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from dispatch.api.permissions import IsSupervisor
from reports.renderers import ReportCSVRenderer
from reports.summary import summary


class InstantField(serializers.DateTimeField):
    """A moment of a report period (ISO 8601; without an offset, in the deployment's time zone),
    refused when so far from today that moving it between time zones overflows Python's dates:
    DRF's own check would raise on it, a 500."""

    EARLIEST = datetime(1970, 1, 1)
    LATEST = datetime(3000, 1, 1)

    def enforce_timezone(self, value):
        if not self.EARLIEST <= value.replace(tzinfo=None) <= self.LATEST:
            self.fail("overflow")
        return super().enforce_timezone(value)


class PeriodSerializer(serializers.Serializer):
    since = InstantField(
        help_text="Start of the period, included. ISO 8601; without an offset, in the "
        "deployment's time zone (WIB). In a URL the `+` of an offset is written `%2B`."
    )
    until = InstantField(help_text="End of the period, excluded.")

    def validate(self, data):
        if data["since"] >= data["until"]:
            raise serializers.ValidationError({"until": [_("Must be later than since.")]})
        return data


# The report's shape, for the OpenAPI schema and as the one shape served: the view passes
# reports.summary's figures through it.


def count(help_text=""):
    return serializers.IntegerField(help_text=help_text)


def fraction(help_text="A share, 0–1"):
    return serializers.FloatField(allow_null=True, help_text=f"{help_text}; null: nothing to share")


def duration(help_text="Seconds"):
    return serializers.FloatField(allow_null=True, help_text=f"{help_text}; null: nothing timed")


def counts_by(help_text):
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


class ReportPeriodSerializer(serializers.Serializer):
    since = serializers.CharField()
    until = serializers.CharField()
    time_zone = serializers.CharField(help_text="Of the hours in by_hour")


class CallFiguresSerializer(serializers.Serializer):
    total = count("Calls and texts to 112 that arrived in the period")
    voice = count()
    sms = count()
    abandoned = count("Voice callers who hung up before reaching an operator")
    picked_up = count("Voice calls an operator picked up")
    picked_up_within_15s = count("Picked up at most 15 s after arriving")
    by_classification = counts_by("normal, ghost, prank, info and unclassified")
    picked_up_within_20s = count("Picked up at most 20 s after arriving")
    share_picked_up_within_15s = fraction("Of the voice calls, NENA asks for at least 0.90")
    share_picked_up_within_20s = fraction("Of the voice calls, NENA asks for at least 0.95")
    share_by_classification = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Of the total"
    )
    callbacks = count("Calls the command centre placed back to callers (not in total)")


class AnswerToDispatchSerializer(serializers.Serializer):
    incidents = count("Dispatched after one of their voice calls was picked up")
    within_60s = count("Dispatched at most 60 s after the first pick-up")
    share_within_60s = fraction("NFPA 1225 asks for at least 0.90")
    seconds_median = duration()
    seconds_p90 = duration()


class IncidentFiguresSerializer(serializers.Serializer):
    total = count("Incidents opened in the period")
    by_category = counts_by("Every category's code")
    by_kecamatan = counts_by("Every kecamatan's code; a kelurahan counts for its kecamatan")
    no_category = count()
    no_area = count()
    dispatched = count()
    answer_to_dispatch = AnswerToDispatchSerializer()


class AgencyFiguresSerializer(serializers.Serializer):
    code = serializers.CharField()
    assignments = count("Created in the period")
    acknowledged = count()
    ack_seconds_median = duration("Seconds from the assignment to its acknowledgement")
    escalated = count("At least one escalation step fired")
    ack_seconds_p90 = duration()


class HourFiguresSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23)
    calls = count()
    voice = count()
    picked_up_within_15s = count()
    incidents = count()


class ReportSerializer(serializers.Serializer):
    period = ReportPeriodSerializer()
    calls = CallFiguresSerializer()
    incidents = IncidentFiguresSerializer()
    agencies = AgencyFiguresSerializer(many=True, help_text="Active or assigned in the period")
    by_hour = HourFiguresSerializer(many=True, help_text="Hour of the day, summed over the period")


class ReportSummaryView(APIView):
    """Calls, incidents and the agencies' work in the period [since, until). `format=csv`: the
    same figures, one `section,group,key,value` row each (see the README, "Reports")."""

    permission_classes = [IsSupervisor]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, ReportCSVRenderer]

    @extend_schema(
        parameters=[PeriodSerializer],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request):
        period = PeriodSerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        return Response(ReportSerializer(summary(**period.validated_data)).data)

    def handle_exception(self, exc):
        # An error is JSON naming what is wrong (CONTRACT §5), also when CSV was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)
