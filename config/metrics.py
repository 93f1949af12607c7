"""`GET /metrics` (CONTRACT §12): Prometheus text format, for loopback or a bearer token.

The counts come from the database at scrape time (a custom collector), so they are the same
whichever of several web processes answers, and the counter of escalations fired survives
restarts: it is the number of `escalation.triggered` events. Each is an indexed count.
The webhook latency histogram is per process (prometheus_client keeps it in memory): with
several web processes, a scrape sees the process that answered it.
"""

import hmac
import ipaddress

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agencies.models import Agency
from calls.metrics import WEBHOOK_SECONDS
from calls.models import Call
from dispatch.models import Assignment, IncidentEvent, Notification

registry = CollectorRegistry()


def pending_assignments():
    """By agency, so PostgreSQL walks the (agency, status) index once per agency (a dozen)
    instead of scanning every assignment ever made."""
    agencies = list(Agency.objects.values_list("pk", flat=True))
    return Assignment.objects.filter(
        agency_id__in=agencies, status=Assignment.Status.PENDING
    ).count()


class DatabaseCollector:
    def collect(self):
        yield GaugeMetricFamily(
            "dispatch_calls_waiting",
            "Callers waiting in the operators' queue.",
            value=Call.objects.filter(queue_state=Call.QueueState.WAITING).count(),
        )
        yield GaugeMetricFamily(
            "dispatch_assignments_pending",
            "Assignments not yet acknowledged by their agency.",
            value=pending_assignments(),
        )
        yield CounterMetricFamily(
            "dispatch_escalations_fired",
            "Escalation steps fired (all processes, since the database began).",
            value=IncidentEvent.objects.filter(type="escalation.triggered").count(),
        )
        yield CounterMetricFamily(
            "dispatch_notification_failures",
            "Escalation SMS and calls that failed for good.",
            value=Notification.objects.filter(status=Notification.Status.FAILED).count(),
        )


registry.register(DatabaseCollector())
registry.register(WEBHOOK_SECONDS)


def is_loopback(address):
    """REMOTE_ADDR only: uvicorn puts the real client there for trusted proxies
    (FORWARDED_ALLOW_IPS); an X-Forwarded-For header is anyone's to write."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def has_token(request):
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


@require_GET
def metrics(request):
    if not (is_loopback(request.META.get("REMOTE_ADDR")) or has_token(request)):
        return HttpResponseForbidden("forbidden")
    try:
        body = generate_latest(registry)
    except DatabaseError:
        # A scrape failure Prometheus records as such (`up` 0), not an error page.
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
