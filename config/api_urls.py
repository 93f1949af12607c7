"""The API's URLs (`/api/v1/`): every app's endpoints on one router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from calls import api as calls_api
from dispatch.api import views
from reports import api as reports_api

router = DefaultRouter()
router.register("areas", views.AreaViewSet, basename="area")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("agencies", views.AgencyViewSet, basename="agency")
router.register("routing-rules", views.RoutingRuleViewSet, basename="routingrule")
router.register("escalation-policies", views.EscalationPolicyViewSet, basename="escalationpolicy")
router.register("users", views.UserViewSet, basename="user")
router.register("calls", calls_api.CallViewSet, basename="call")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("events/", views.EventReplayView.as_view(), name="events"),
    path("routing/simulate/", views.RoutingSimulatorView.as_view(), name="routing-simulate"),
    path("reports/summary/", reports_api.ReportSummaryView.as_view(), name="reports-summary"),
    path("telephony/token/", calls_api.SoftphoneTokenView.as_view(), name="telephony-token"),
    path("incidents/<int:pk>/merge/", calls_api.MergeView.as_view(), name="incident-merge"),
    path(
        "incidents/<int:pk>/messages/", calls_api.MessagesView.as_view(), name="incident-messages"
    ),
    path("", include(router.urls)),
]
