"""The incident domain: incidents, their assignments to agencies, and the append-only timeline."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agencies.models import Agency, Area, Category


class ReferenceCounter(models.Model):
    """One row per day (WIB); incremented atomically to number incident references."""

    day = models.DateField(unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.day}: {self.last}"


class Incident(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        DISPATCHED = "dispatched", _("Dispatched")
        IN_PROGRESS = "in_progress", _("In progress")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN_STATUSES = (Status.NEW, Status.DISPATCHED, Status.IN_PROGRESS)
    ENDED_STATUSES = (Status.RESOLVED, Status.CLOSED, Status.CANCELLED)

    class CloseReason(models.TextChoices):
        # Why the command centre closed it; blank while open, after a reopen, for rows older
        # than the field, and when an API client closed it without saying why.
        HANDLED = "handled", _("Handled")
        FALSE_ALARM = "false_alarm", _("False alarm")
        DUPLICATE = "duplicate", _("Duplicate")
        PRANK = "prank", _("Prank")
        NO_ANSWER = "no_answer", _("No answer")

    class LocationSource(models.TextChoices):
        # Where `latitude`/`longitude` came from. An operator's own position is never
        # overwritten by the handset's; blank when there is none.
        AML = "aml", _("Handset (AML)")
        OPERATOR = "operator", _("Operator")
        KELURAHAN = "kelurahan", _("Kelurahan centre")

    class AMLMethod(models.TextChoices):
        GNSS = "G", _("GNSS")
        WIFI = "W", _("Wi-Fi")
        CELL = "C", _("Cell")

    reference = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT)
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.PROTECT)
    address = models.CharField(max_length=300, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    location_accuracy_m = models.PositiveIntegerField(
        null=True, blank=True, help_text="Radius around latitude/longitude, in metres"
    )
    location_source = models.CharField(
        max_length=16, choices=LocationSource.choices, blank=True, default=""
    )
    # The handset's latest Advanced Mobile Location, kept whether or not it is the position in
    # use: beside an operator's own coordinates it is still worth showing.
    aml_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    aml_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    aml_accuracy_m = models.PositiveIntegerField(null=True, blank=True)
    aml_at = models.DateTimeField(null=True, blank=True, help_text="When the handset positioned")
    aml_method = models.CharField(max_length=1, choices=AMLMethod.choices, blank=True, default="")
    caller_phone = models.CharField(max_length=32, blank=True)
    close_reason = models.CharField(
        max_length=16, choices=CloseReason.choices, blank=True, default=""
    )
    # Closed as a duplicate of this one (CONTRACT §10 merge): its calls moved there.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    caller_name = models.CharField(max_length=100, blank=True)
    unroutable = models.BooleanField(
        default=False, help_text="Dispatch found no routing rule: the command centre handles it"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="incident_status_created"),
            # A caller's incidents: the history's search, a text joining its conversation.
            models.Index(fields=["caller_phone"], name="incident_caller_phone"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__isnull=True) | Q(priority__gte=1, priority__lte=4),
                name="incident_priority_1_to_4",
            ),
            models.CheckConstraint(
                condition=Q(location_accuracy_m__isnull=True) | Q(location_accuracy_m__gte=1),
                name="incident_location_accuracy_positive",
            ),
        ]

    def __str__(self):
        return self.reference


class Assignment(models.Model):
    """An incident in one agency's queue, with its own life cycle and escalation clock."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting acknowledgement")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        EN_ROUTE = "en_route", _("En route")
        ON_SCENE = "on_scene", _("On scene")
        COMPLETED = "completed", _("Completed")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.PENDING, Status.ACKNOWLEDGED, Status.EN_ROUTE, Status.ON_SCENE)
    FINAL_STATUSES = (Status.COMPLETED, Status.DECLINED, Status.CANCELLED)

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="assignments")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Set by dispatch, so the escalation deadlines counted from it use the very same instant.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    en_route_at = models.DateTimeField(null=True, blank=True)
    on_scene_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Last progress note or the reason to decline")
    # Escalation: a copy of the agency's policy steps taken at dispatch (later edits of the
    # policy do not touch running escalations), how many have fired, and when the next is due.
    escalation_steps = models.JSONField(default=list, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalate_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # An agency holds an incident at most once at a time; after a decline or a
            # cancellation it may be dispatched again.
            models.UniqueConstraint(
                fields=["incident", "agency"],
                condition=~Q(status__in=["declined", "cancelled"]),
                name="assignment_one_live_per_agency",
            )
        ]
        indexes = [
            models.Index(fields=["agency", "status"], name="assignment_agency_status"),
            # The reports count the assignments created in a period.
            models.Index(fields=["created_at"], name="assignment_created"),
            # The escalations panel (`?escalated=1&status=…`): the few escalated assignments
            # among a year of them, without reading all of (agency, status) for the status.
            models.Index(
                fields=["status"],
                condition=Q(escalation_level__gt=0),
                name="assignment_escalated_status",
            ),
        ]

    def __str__(self):
        return f"{self.incident_id}→{self.agency_id} {self.status}"


# A transaction's own events carry a provisional seq until it commits: their id plus this, far
# above every committed seq. The database gives each its final seq at commit (migration 0004).
PROVISIONAL_SEQ_OFFSET = 10**15


class IncidentEvent(models.Model):
    """The append-only timeline and outbox.

    `seq` is what clients follow (CONTRACT §7: the replay never skips). An id is taken when
    the row is inserted, so a transaction that inserted early but commits late would make a
    lower id appear after a higher one was already served. On PostgreSQL the seq is therefore
    given at commit instead, under a lock held only while committing: seqs become visible in
    order, with no holes left behind by slow transactions. SQLite runs one writer at a time,
    so there the id is the seq."""

    type = models.CharField(max_length=40, db_index=True)
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    # The agency an assignment/escalation event concerns: agency staff see only their own.
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict)
    # Set by the database (triggers of migration 0004), never by the application.
    seq = models.BigIntegerField(unique=True, null=True, editable=False)

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"#{self.seq} {self.type}"


class Notification(models.Model):
    """One message an escalation step sends to one recipient over one channel. Unique per
    (assignment, step, channel, recipient): a step that is retried never notifies twice."""

    class Channel(models.TextChoices):
        CONSOLE = "console", _("Console alert")
        SMS = "sms", _("SMS")
        VOICE = "voice", _("Voice call")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="notifications"
    )
    step = models.PositiveSmallIntegerField(help_text="Index of the policy step that sent it")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=64, help_text="Phone number, or the console group")
    body = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When to retry")
    provider_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "step", "channel", "recipient"],
                name="notification_once_per_step_recipient",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
        ]

    def __str__(self):
        return f"{self.channel}→{self.recipient} {self.status}"
