"""The calls API (CONTRACT §5, §9): the call list, classification, and the operator's actions on
a caller — pick up, release, end, call back, settle a missed call — plus the softphone's token.
Thin: `calls.answering` and `calls.intake` do the work."""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from calls import answering, conversation, linking
from calls.filters import CallFilter
from calls.history import with_caller_history
from calls.intake import classify
from calls.models import Call, Message
from calls.serializers import (
    CallSerializer,
    MessageSerializer,
    ReplySerializer,
    ResolveMissedSerializer,
    SoftphoneTokenSerializer,
)
from dispatch import visibility
from dispatch.api.permissions import CommandCentreWrites, IsCommandCentre
from dispatch.api.serializers import IncidentSerializer
from dispatch.api.views import incident_queryset
from telephony import softphone


class LinkRequestSerializer(serializers.Serializer):
    incident = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class CallViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Operators classify a call (normal / ghost / prank / info) with PATCH, pick up waiting
    callers, and call back the ones who were missed (CONTRACT §9)."""

    serializer_class = CallSerializer
    permission_classes = [IsCommandCentre]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CallFilter

    def get_queryset(self):
        return with_caller_history(Call.objects.select_related("picked_up_by"))

    @extend_schema(responses=CallSerializer)
    def partial_update(self, request, *args, **kwargs):
        call = self.get_object()
        serializer = CallSerializer(call, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "classification" in serializer.validated_data:  # `{}` changes nothing
            classify(call.pk, serializer.validated_data["classification"], actor=request.user)
        return self.fresh(call.pk)

    def fresh(self, call_id, status_code=status.HTTP_200_OK):
        return Response(
            CallSerializer(get_object_or_404(self.get_queryset(), pk=call_id)).data,
            status=status_code,
        )

    @extend_schema(request=None, responses=CallSerializer)
    @action(detail=True, methods=["post"], url_path="pick-up")
    def pick_up(self, request, pk=None):
        """Claim this waiting caller and connect them to you; 409 if another operator won."""
        call = self.get_object()
        answering.pick_up(call.pk, request.user)
        return self.fresh(call.pk)

    @extend_schema(request=None, responses=CallSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Put the caller you hold back in the queue, first in line."""
        call = self.get_object()
        answering.release(call.pk, request.user)
        return self.fresh(call.pk)

    @extend_schema(request=None, responses=CallSerializer)
    @action(detail=True, methods=["post"], url_path="hang-up")
    def hang_up(self, request, pk=None):
        """End the conversation with the caller you hold."""
        call = self.get_object()
        answering.end_call(call.pk, request.user)
        return self.fresh(call.pk)

    @extend_schema(request=LinkRequestSerializer, responses=CallSerializer)
    @action(detail=True, methods=["post"])
    def link(self, request, pk=None):
        """This caller reports a known incident: the call joins it (and the incident it opened
        for itself, if it holds nothing else, is merged into that one)."""
        call = self.get_object()
        serializer = LinkRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident_id = serializer.validated_data["incident"]
        get_object_or_404(visibility.incidents_for(request.user), pk=incident_id)
        linking.link(call.pk, incident_id, actor=request.user)
        return self.fresh(call.pk)

    @extend_schema(request=None, responses={201: CallSerializer})
    @action(detail=True, methods=["post"])
    def callback(self, request, pk=None):
        """Call a missed caller back: your phone rings first, then theirs."""
        call = self.get_object()
        callback = answering.call_back(call.pk, request.user)
        return self.fresh(callback.pk, status.HTTP_201_CREATED)

    @extend_schema(request=ResolveMissedSerializer, responses=CallSerializer)
    @action(detail=True, methods=["post"], url_path="resolve-missed")
    def resolve_missed(self, request, pk=None):
        call = self.get_object()
        serializer = ResolveMissedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answering.resolve_missed(call.pk, request.user, serializer.validated_data["reason"])
        return self.fresh(call.pk)


class SoftphoneTokenView(GenericAPIView):
    """A Twilio Access Token for the operator's browser softphone (CONTRACT §9)."""

    permission_classes = [IsCommandCentre]
    serializer_class = SoftphoneTokenSerializer

    @extend_schema(responses={200: SoftphoneTokenSerializer, 503: None})
    def get(self, request):
        if not softphone.softphone_configured():
            missing = ", ".join(softphone.missing_softphone_settings())
            return Response(
                {"detail": f"The softphone is not configured (missing: {missing})."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        identity, token, expires_at = softphone.softphone_token(request.user)
        return Response(
            SoftphoneTokenSerializer(
                {"identity": identity, "token": token, "expires_at": expires_at}
            ).data
        )


class MergeRequestSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class MergeView(GenericAPIView):
    """`POST /api/v1/incidents/{id}/merge/ {"into"}` (CONTRACT §10): close a duplicate into the
    incident it duplicates. 200 with the target; 409 when merging into itself or into (or
    from) an incident that is not open; 404 for what the user may not see."""

    permission_classes = [IsCommandCentre]
    serializer_class = MergeRequestSerializer

    @extend_schema(request=MergeRequestSerializer, responses=IncidentSerializer)
    def post(self, request, pk):
        serializer = MergeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        into = serializer.validated_data["into"]
        visible = visibility.incidents_for(request.user)
        get_object_or_404(visible, pk=pk)
        get_object_or_404(visible, pk=into)
        linking.merge(pk, into, actor=request.user)
        return Response(IncidentSerializer(incident_queryset(request.user).get(pk=into)).data)


class MessagesView(GenericAPIView):
    """`/api/v1/incidents/{id}/messages/` (CONTRACT §10): the incident's conversation with its
    caller by SMS, oldest first, for whoever may see the incident; the command centre replies
    with `POST {"body"}` (201 with the text as sent, or `failed` with its `error`)."""

    permission_classes = [CommandCentreWrites]
    serializer_class = MessageSerializer

    def incident(self):
        return get_object_or_404(visibility.incidents_for(self.request.user), pk=self.kwargs["pk"])

    def get(self, request, pk):
        incident = self.incident()
        texts = Message.objects.filter(incident=incident).select_related("author")
        page = self.paginate_queryset(texts.order_by("at", "id"))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=ReplySerializer, responses={201: MessageSerializer})
    def post(self, request, pk):
        incident = self.incident()
        serializer = ReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = conversation.reply(
            incident.pk, serializer.validated_data["body"], author=request.user
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
