"""REST API (CONTRACT §5). Views are thin: visibility comes from `dispatch.visibility`, state
changes from `dispatch.incidents`; these only translate HTTP."""

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import TokenRequestSerializer
from accounts.signin import LockedOut, LoginThrottle, is_locked_out
from accounts.sockets import TOKEN_CREDENTIAL, close_sockets
from accounts.tokens import current_token, revoke_tokens
from agencies.models import Agency, Area, Category, EscalationPolicy, RoutingRule, User
from agencies.phones import to_e164_or_raw
from agencies.serializers import (
    AgencySerializer,
    AreaSerializer,
    CategorySerializer,
    CodeRelatedField,
    EscalationPolicySerializer,
    MeSerializer,
    RoutingRuleSerializer,
    UserSerializer,
)
from calls import answering, telephony
from calls.history import with_caller_history
from calls.intake import classify
from calls.models import CALL_STATUS_RANK, Call
from calls.serializers import CallSerializer, ResolveMissedSerializer, SoftphoneTokenSerializer
from dispatch import events, incidents, visibility
from dispatch.api.permissions import (
    CommandCentreWrites,
    IsAdmin,
    IsCommandCentre,
    IsStaffOfAssignedAgency,
    ReadAllWriteAdmin,
)
from dispatch.api.serializers import (
    AssignmentSerializer,
    AssignmentStatusSerializer,
    DispatchSerializer,
    IncidentSerializer,
    IncidentWriteSerializer,
    NotificationSerializer,
    TimelineEventSerializer,
)
from dispatch.models import Assignment, Incident, IncidentEvent, Notification


def filter_choices(queryset, request, field, choices):
    """`?status=a,b` style filters; an unknown value is a 400 that names the parameter."""
    raw = request.query_params.get(field)
    if not raw:
        return queryset
    values = raw.split(",")
    unknown = sorted(set(values) - set(choices))
    if unknown:
        raise ValidationError({field: [f"Unknown value: {', '.join(unknown)}"]})
    return queryset.filter(**{f"{field}__in": values})


def id_param(request, name):
    """An optional `?name=<id>` filter: a whole number or a 400 naming the parameter."""
    value = request.query_params.get(name)
    if value is not None and not value.isdecimal():
        raise ValidationError({name: ["Must be a whole number (an id)."]})
    return value


def text_param(request, name):
    """A free-text query parameter. PostgreSQL refuses a NUL character in text, so one is a 400
    here instead of a 500 from the database."""
    value = request.query_params.get(name)
    if value and "\x00" in value:
        raise ValidationError({name: ["Must not contain a NUL character."]})
    return value


# Codes in URLs (`/agencies/DPKP/`): anything but a slash, a dot or a NUL character.
CODE_LOOKUP_REGEX = r"[^/.\x00]+"


class TokenView(ObtainAuthToken):
    """`POST {"username","password"[,"otp"]}` → `{"token"}`, with guessing slowed down per
    client (throttle) and per username (lockout, 429); `DELETE` revokes the caller's token."""

    serializer_class = TokenRequestSerializer
    # The project's parsers (ObtainAuthToken names DRF's own): one JSON parser for every view.
    parser_classes = APIView.parser_classes
    throttle_scope = "login"

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    def get_throttles(self):
        return [LoginThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenRequestSerializer})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        # A locked-out username fails even with the right password; say so instead of 400.
        if is_locked_out(request):
            raise LockedOut()
        if not valid:
            raise ValidationError(serializer.errors)
        return Response({"token": current_token(serializer.validated_data["user"]).key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, *args, **kwargs):
        revoke_tokens(request.user)
        close_sockets(request.user.pk, TOKEN_CREDENTIAL)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(RetrieveAPIView):
    serializer_class = MeSerializer

    def get_object(self):
        return self.request.user


class AreaViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AreaSerializer
    lookup_field = "code"
    lookup_value_regex = r"[0-9.]+"

    def get_queryset(self):
        queryset = Area.objects.select_related("parent")
        queryset = filter_choices(queryset, self.request, "kind", Area.Kind.values)
        if parent := text_param(self.request, "parent"):
            queryset = queryset.filter(parent__code=parent)
        if text := text_param(self.request, "q"):
            queryset = queryset.filter(Q(name__icontains=text) | Q(aliases__icontains=text))
        return queryset


class CategoryViewSet(viewsets.ModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [ReadAllWriteAdmin]
    lookup_field = "code"
    lookup_value_regex = CODE_LOOKUP_REGEX


class AgencyViewSet(viewsets.ModelViewSet):
    queryset = Agency.objects.all()
    serializer_class = AgencySerializer
    permission_classes = [ReadAllWriteAdmin]
    lookup_field = "code"
    lookup_value_regex = CODE_LOOKUP_REGEX


class RoutingRuleViewSet(viewsets.ModelViewSet):
    queryset = RoutingRule.objects.select_related("category", "area").prefetch_related("agencies")
    serializer_class = RoutingRuleSerializer
    permission_classes = [IsAdmin]


class EscalationPolicyViewSet(viewsets.ModelViewSet):
    queryset = EscalationPolicy.objects.all()
    serializer_class = EscalationPolicySerializer
    permission_classes = [IsAdmin]


class UserViewSet(viewsets.ModelViewSet):
    queryset = User.objects.select_related("agency")
    serializer_class = UserSerializer
    permission_classes = [IsAdmin]

    def perform_destroy(self, instance):
        # People leave; their name stays on the timeline. Deactivate instead of deleting.
        instance.is_active = False
        instance.save(update_fields=["is_active"])


def bool_param(request, name):
    """An optional `?name=true|false` filter: None when absent, else a bool or a 400."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValidationError({name: ["Must be true or false."]})


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

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Call.objects.none()
        queryset = with_caller_history(Call.objects.select_related("picked_up_by"))
        queryset = filter_choices(queryset, self.request, "status", CALL_STATUSES)
        queryset = filter_choices(queryset, self.request, "queue_state", Call.QueueState.values)
        queryset = filter_choices(queryset, self.request, "direction", Call.Direction.values)
        missed = bool_param(self.request, "missed")
        if missed is not None:
            queryset = queryset.filter(missed=missed)
        if number := text_param(self.request, "from_number"):
            queryset = queryset.filter(from_number=to_e164_or_raw(number))
        return queryset

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


CALL_STATUSES = sorted(CALL_STATUS_RANK)


class SoftphoneTokenView(GenericAPIView):
    """A Twilio Access Token for the operator's browser softphone (CONTRACT §9)."""

    permission_classes = [IsCommandCentre]
    serializer_class = SoftphoneTokenSerializer

    @extend_schema(responses={200: SoftphoneTokenSerializer, 503: None})
    def get(self, request):
        if not telephony.softphone_configured():
            missing = ", ".join(telephony.missing_softphone_settings())
            return Response(
                {"detail": f"The softphone is not configured (missing: {missing})."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        identity, token, expires_at = telephony.softphone_token(request.user)
        return Response(
            SoftphoneTokenSerializer(
                {"identity": identity, "token": token, "expires_at": expires_at}
            ).data
        )


def incident_queryset(user):
    return (
        visibility.incidents_for(user)
        .select_related("category", "area")
        .prefetch_related(
            "calls",
            Prefetch(
                "assignments",
                queryset=visibility.assignments_for(user).select_related(
                    "agency", "acknowledged_by", "incident"
                ),
            ),
        )
    )


class RoutingPreviewQuerySerializer(serializers.Serializer):
    category = CodeRelatedField(
        slug_field="code", queryset=Category.objects.all(), required=False, allow_null=True
    )
    area = CodeRelatedField(
        slug_field="code", queryset=Area.objects.all(), required=False, allow_null=True
    )

    def to_internal_value(self, data):
        # An empty query value means "none chosen yet".
        cleaned = {key: (data.get(key) or None) for key in ("category", "area") if key in data}
        return super().to_internal_value(cleaned)


class RoutingPreviewSerializer(serializers.Serializer):
    rule = serializers.IntegerField(allow_null=True)
    agencies = serializers.ListField(child=serializers.CharField())


class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CommandCentreWrites]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Incident.objects.none()
        queryset = incident_queryset(self.request.user)
        queryset = filter_choices(queryset, self.request, "status", Incident.Status.values)
        if self.request.query_params.get("open") in ("1", "true"):
            queryset = queryset.filter(status__in=Incident.OPEN_STATUSES)
        return queryset

    def get_serializer_class(self):
        if self.action in ("create", "partial_update", "update"):
            return IncidentWriteSerializer
        return IncidentSerializer

    def fresh(self, incident_id):
        return IncidentSerializer(get_object_or_404(self.get_queryset(), pk=incident_id)).data

    @extend_schema(responses=IncidentSerializer)
    def create(self, request, *args, **kwargs):
        serializer = IncidentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.pop("status", None) not in (None, Incident.Status.NEW):
            raise ValidationError({"status": ["A new incident starts as new."]})
        incident = incidents.create_incident(actor=request.user, **fields)
        return Response(self.fresh(incident.pk), status=status.HTTP_201_CREATED)

    @extend_schema(responses=IncidentSerializer)
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        serializer = IncidentWriteSerializer(incident, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        incidents.update_incident(incident.pk, actor=request.user, **serializer.validated_data)
        return Response(self.fresh(incident.pk))

    @extend_schema(request=DispatchSerializer, responses=IncidentSerializer)
    @action(
        detail=True, methods=["post"], url_path="dispatch", permission_classes=[IsCommandCentre]
    )
    def dispatch_to_agencies(self, request, pk=None):
        incident = self.get_object()
        serializer = DispatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incidents.dispatch(
            incident.pk, actor=request.user, agencies=serializer.validated_data.get("agencies")
        )
        return Response(self.fresh(incident.pk))

    @extend_schema(
        parameters=[RoutingPreviewQuerySerializer],
        responses=RoutingPreviewSerializer,
        description="Which agencies the routing rules would choose (before Dispatch): for the "
        "incident as saved, or for the `category` / `area` the operator is choosing now.",
    )
    @action(detail=True, methods=["get"], permission_classes=[IsCommandCentre])
    def routing(self, request, pk=None):
        incident = self.get_object()
        query = RoutingPreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        for name, value in query.validated_data.items():
            setattr(incident, name, value)  # an unsaved what-if; never saved
        return Response(incidents.preview_routing(incident))

    @extend_schema(responses=TimelineEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        incident = self.get_object()
        timeline = visibility.events_for(request.user, incident.events.select_related("actor"))
        page = self.paginate_queryset(timeline.order_by("seq"))
        return self.get_paginated_response(TimelineEventSerializer(page, many=True).data)


class AssignmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AssignmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Assignment.objects.none()
        queryset = visibility.assignments_for(self.request.user).select_related(
            "agency", "acknowledged_by", "incident"
        )
        queryset = filter_choices(queryset, self.request, "status", Assignment.Status.values)
        if agency := text_param(self.request, "agency"):
            queryset = queryset.filter(agency__code=agency)
        if incident := id_param(self.request, "incident"):
            # On the pk itself, not the FK column: an id beyond the integer range matches
            # nothing instead of overflowing SQLite.
            queryset = queryset.filter(incident__pk=incident)
        if self.request.query_params.get("escalated") in ("1", "true"):
            queryset = queryset.filter(escalation_level__gt=0)
        return queryset

    def assignment_for_staff(self):
        assignment = self.get_object()
        permission = IsStaffOfAssignedAgency()
        if not permission.has_object_permission(self.request, self, assignment):
            self.permission_denied(self.request, message=permission.message)
        return assignment

    @extend_schema(request=None, responses=AssignmentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        assignment = self.assignment_for_staff()
        updated = incidents.acknowledge(assignment.pk, actor=request.user)
        return Response(AssignmentSerializer(updated).data)

    @extend_schema(request=AssignmentStatusSerializer, responses=AssignmentSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def progress(self, request, pk=None):
        assignment = self.assignment_for_staff()
        serializer = AssignmentStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = incidents.report_progress(
            assignment.pk, actor=request.user, **serializer.validated_data
        )
        return Response(AssignmentSerializer(updated).data)


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """What escalation steps sent to whom, and whether it was delivered."""

    serializer_class = NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Notification.objects.none()
        assignments = visibility.assignments_for(self.request.user)
        queryset = Notification.objects.filter(assignment__in=assignments).select_related(
            "assignment__agency"
        )
        queryset = filter_choices(queryset, self.request, "status", Notification.Status.values)
        if assignment := id_param(self.request, "assignment"):
            queryset = queryset.filter(assignment__pk=assignment)  # see AssignmentViewSet
        return queryset.order_by("-id")


class EventEnvelopeSerializer(serializers.Serializer):
    type = serializers.CharField()
    seq = serializers.IntegerField()
    event = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    data = serializers.DictField()


MAX_SEQ = 2**63 - 1  # a bigint; an `after` beyond it asks for nothing


class EventReplayView(GenericAPIView):
    """Dashboard replay: the events after `seq` this user may see, oldest first, in the
    WebSocket's envelope."""

    permission_classes = [IsAuthenticated]
    serializer_class = EventEnvelopeSerializer

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Last seq the client has")],
        responses=EventEnvelopeSerializer(many=True),
    )
    def get(self, request):
        after = id_param(request, "after") or "0"
        timeline = visibility.events_for(
            request.user, IncidentEvent.objects.filter(seq__gt=min(int(after), MAX_SEQ))
        ).select_related("actor")
        page = self.paginate_queryset(timeline.order_by("seq"))
        return self.get_paginated_response([events.envelope(event) for event in page])
