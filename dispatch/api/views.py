"""REST API (CONTRACT §5). Views are thin: visibility comes from `dispatch.visibility`, state
changes from `dispatch.incidents`; these only translate HTTP."""

from django.db import transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, RetrieveAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import TokenRequestSerializer
from accounts.signin import LockedOut, LoginThrottle, is_locked_out
from accounts.tokens import current_token, revoke_tokens
from agencies import audit
from agencies.models import (
    Agency,
    Area,
    Category,
    ConfigChange,
    EscalationPolicy,
    RoutingRule,
    User,
)
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
from dispatch import duplicates, incidents, routing, visibility
from dispatch.api import rows
from dispatch.api.filters import AreaFilter, AssignmentFilter, IncidentFilter, NotificationFilter
from dispatch.api.params import id_param
from dispatch.api.permissions import (
    CommandCentreWrites,
    IsAdmin,
    IsCommandCentre,
    IsStaffOfAssignedAgency,
    ReadAllWriteAdmin,
)
from dispatch.api.serializers import (
    AssignmentStatusSerializer,
    DispatchSerializer,
    IncidentSerializer,
    IncidentWriteSerializer,
)
from dispatch.events import EventEnvelopeSerializer
from dispatch.models import Assignment, Incident, IncidentEvent, Notification
from dispatch.payloads import (
    AssignmentSerializer,
    IncidentSummarySerializer,
    NotificationSerializer,
)
from dispatch.ws_auth import TOKEN_CREDENTIAL, close_sockets

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
    queryset = Area.objects.select_related("parent")
    filter_backends = [DjangoFilterBackend]
    filterset_class = AreaFilter


class CategoryViewSet(viewsets.ModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [ReadAllWriteAdmin]
    lookup_field = "code"
    lookup_value_regex = CODE_LOOKUP_REGEX


class AuditedChanges:
    """Every change made through a configuration endpoint goes into the configuration audit
    log (agencies.audit), in the change's own transaction, as the /config/ pages' do."""

    def audit_action(self, serializer):
        """What an update did when the fields alone cannot tell (a password reset)."""
        return None

    def save_audited(self, instance, save, action=None):
        with transaction.atomic():
            before = audit.locked_state(instance)
            save()
            audit.record(
                self.request.user, instance, before, via=ConfigChange.Via.API, action=action
            )

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save()
            audit.record(self.request.user, serializer.instance, None, via=ConfigChange.Via.API)

    def perform_update(self, serializer):
        self.save_audited(serializer.instance, serializer.save, self.audit_action(serializer))

    def perform_destroy(self, instance):
        with transaction.atomic():
            before = audit.locked_state(instance)
            audit.record(
                self.request.user,
                instance,
                before,
                via=ConfigChange.Via.API,
                action=ConfigChange.Action.DELETE,
            )
            instance.delete()


class AgencyViewSet(AuditedChanges, viewsets.ModelViewSet):
    queryset = Agency.objects.all()
    serializer_class = AgencySerializer
    permission_classes = [ReadAllWriteAdmin]
    lookup_field = "code"
    lookup_value_regex = CODE_LOOKUP_REGEX


class RoutingRuleViewSet(AuditedChanges, viewsets.ModelViewSet):
    queryset = RoutingRule.objects.select_related("category", "area").prefetch_related("agencies")
    serializer_class = RoutingRuleSerializer
    permission_classes = [IsAdmin]


class EscalationPolicyViewSet(AuditedChanges, viewsets.ModelViewSet):
    queryset = EscalationPolicy.objects.all()
    serializer_class = EscalationPolicySerializer
    permission_classes = [IsAdmin]


class UserViewSet(AuditedChanges, viewsets.ModelViewSet):
    queryset = User.objects.select_related("agency")
    serializer_class = UserSerializer
    permission_classes = [IsAdmin]

    def audit_action(self, serializer):
        if serializer.validated_data.get("password"):
            return ConfigChange.Action.PASSWORD_RESET
        return None

    def perform_destroy(self, instance):
        # People leave; their name stays on the timeline. Deactivate instead of deleting.
        instance.is_active = False
        self.save_audited(instance, lambda: instance.save(update_fields=["is_active"]))


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


class RoutingSimulationQuerySerializer(serializers.Serializer):
    category = CodeRelatedField(slug_field="code", queryset=Category.objects.all())
    area = CodeRelatedField(
        slug_field="code",
        queryset=Area.objects.select_related("parent"),
        help_text="A kelurahan (routed by its kecamatan) or a kecamatan code",
    )


class RoutingSimulatorView(APIView):
    """Where the routing rules send a category in an area, without an incident (CONTRACT §11):
    the configuration page's simulator. The same function as dispatch decides it."""

    permission_classes = [IsCommandCentre]

    @extend_schema(
        parameters=[RoutingSimulationQuerySerializer], responses=RoutingPreviewSerializer
    )
    def get(self, request):
        query = RoutingSimulationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(routing.preview(**query.validated_data))


class SimilarIncidentSerializer(IncidentSummarySerializer):
    """For the schema: an incident summary and why it may be the same emergency."""

    reasons = serializers.ListField(child=serializers.ChoiceField(choices=list(duplicates.REASONS)))

    class Meta(IncidentSummarySerializer.Meta):
        fields = [*IncidentSummarySerializer.Meta.fields, "reasons"]


class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CommandCentreWrites]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filter_backends = [DjangoFilterBackend]
    filterset_class = IncidentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Incident.objects.none()
        return incident_queryset(self.request.user)

    def get_serializer_class(self):
        if self.action in ("create", "partial_update", "update"):
            return IncidentWriteSerializer
        return IncidentSerializer

    def list(self, request, *args, **kwargs):
        found = self.filter_queryset(visibility.incidents_for(request.user))
        page = self.paginate_queryset(rows.incident_rows(found))
        return self.get_paginated_response(rows.incidents(page, request.user))

    def visible_incident(self):
        """The incident of the URL as `get_object` finds it, without the relations the
        incident's own representation prefetches."""
        found = self.filter_queryset(visibility.incidents_for(self.request.user))
        # DRF's get_object_or_404, as get_object's: a malformed id is a 404, not a 500.
        incident = generics.get_object_or_404(found, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, incident)
        return incident

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
    # No list filters: `category` and `area` here are the what-if, not a search that would
    # leave the incident out (a 404) whenever they differ from its own.
    @action(detail=True, methods=["get"], permission_classes=[IsCommandCentre], filter_backends=[])
    def routing(self, request, pk=None):
        incident = self.get_object()
        query = RoutingPreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        # A what-if: the category and area being chosen now take the saved ones' place.
        chosen = {"category": incident.category, "area": incident.area, **query.validated_data}
        return Response(routing.preview(**chosen))

    @extend_schema(responses=SimilarIncidentSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def similar(self, request, pk=None):
        """Open incidents that may be the same emergency (CONTRACT §10), newest first."""
        incident = self.get_object()
        candidates = (
            visibility.incidents_for(request.user)
            .select_related("category", "area")
            .prefetch_related("calls")
        )
        found = duplicates.similar(incident, candidates)
        page = self.paginate_queryset(found)
        return self.get_paginated_response(
            [{**IncidentSummarySerializer(other).data, "reasons": why} for other, why in page]
        )

    @extend_schema(responses=EventEnvelopeSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The incident's timeline in the event envelope, `type` being the timeline type (§5)."""
        incident = self.visible_incident()
        timeline = visibility.events_for(request.user, incident.events.order_by("seq"))
        page = self.paginate_queryset(rows.event_rows(timeline))
        return self.get_paginated_response(rows.events(page, timeline=True))


class AssignmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AssignmentSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = AssignmentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Assignment.objects.none()
        return visibility.assignments_for(self.request.user).select_related(
            "agency", "acknowledged_by", "incident"
        )

    def list(self, request, *args, **kwargs):
        found = self.filter_queryset(visibility.assignments_for(request.user))
        page = self.paginate_queryset(rows.assignment_rows(found))
        return self.get_paginated_response(rows.assignments(page))

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
    filter_backends = [DjangoFilterBackend]
    filterset_class = NotificationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no user to ask about
            return Notification.objects.none()
        assignments = visibility.assignments_for(self.request.user)
        queryset = Notification.objects.filter(assignment__in=assignments).select_related(
            "assignment__agency"
        )
        return queryset.order_by("-id")


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
        )
        page = self.paginate_queryset(rows.event_rows(timeline.order_by("seq")))
        return self.get_paginated_response(rows.events(page))
