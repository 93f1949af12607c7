"""Telephony records: every 112 call and SMS that reached the platform, and the calls the
command centre placed back to callers."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Twilio's call statuses, in the order a call lives through them. A status callback that
# arrives late must never move a call back to an earlier one.
CALL_STATUS_RANK = {
    "queued": 0,
    "initiated": 0,
    "ringing": 1,
    "in-progress": 2,
    "completed": 3,
    "busy": 3,
    "failed": 3,
    "no-answer": 3,
    "canceled": 3,
}
FINAL_CALL_STATUSES = frozenset(s for s, rank in CALL_STATUS_RANK.items() if rank == 3)

# A text is kept up to a concatenated SMS's length, whichever way it came or goes.
TEXT_MAX_LENGTH = 1600


class Call(models.Model):
    class Channel(models.TextChoices):
        VOICE = "voice", _("Voice")
        SMS = "sms", _("SMS")

    class Classification(models.TextChoices):
        # The Cilegon SOP: only normal calls become emergencies.
        NORMAL = "normal", _("Normal")
        GHOST = "ghost", _("Ghost (silent)")
        PRANK = "prank", _("Prank")
        INFO = "info", _("Information request")

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("Inbound")
        OUTBOUND = "outbound", _("Outbound (call-back)")

    class QueueState(models.TextChoices):
        # A voice caller's way to a person (CONTRACT §9). Null for SMS and call-backs.
        WAITING = "waiting", _("Waiting")
        CONNECTING = "connecting", _("Connecting")
        CONNECTED = "connected", _("Connected")
        ENDED = "ended", _("Ended")

    class Settlement(models.TextChoices):
        # How a missed call stopped being missed; the call keeps `abandoned` for the KPIs.
        CALLBACK = "callback", _("Called back")
        CALLED_AGAIN = "called_again", _("Called again and was picked up")
        RESOLVED = "resolved", _("Resolved by an operator")

    sid = models.CharField(max_length=64, unique=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.INBOUND)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.VOICE)
    from_number = models.CharField(max_length=32, db_index=True)
    to_number = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, default="ringing")
    # Position of the last status callback applied: Twilio's SequenceNumber when it sends one,
    # else the status rank. Older callbacks than this are ignored.
    status_sequence = models.IntegerField(default=-1)
    classification = models.CharField(
        max_length=8, choices=Classification.choices, null=True, blank=True
    )
    body = models.TextField(blank=True, help_text="SMS text")
    started_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    incident = models.ForeignKey(
        "dispatch.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    queue_state = models.CharField(max_length=12, choices=QueueState.choices, null=True, blank=True)
    # Twilio's QueueResult when the caller left the queue (hangup, bridged, redirected, …).
    queue_result = models.CharField(max_length=32, blank=True)
    picked_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    picked_up_at = models.DateTimeField(null=True, blank=True)
    # The operator's leg of the bridge (Twilio), so a release can end it and requeue the caller.
    operator_leg_sid = models.CharField(max_length=64, blank=True)
    # From arrival to pick-up, or to abandonment: the NENA answer-time figure's raw data.
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The caller left the queue before reaching anybody. Kept for the reports after settling.
    abandoned = models.BooleanField(default=False)
    # Abandoned and not yet settled: every operator sees it until somebody settles it.
    missed = models.BooleanField(default=False)
    missed_settlement = models.CharField(max_length=16, choices=Settlement.choices, blank=True)
    missed_settled_at = models.DateTimeField(null=True, blank=True)
    missed_reason = models.CharField(max_length=300, blank=True)
    callback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks"
    )
    # Set on every change, `update()`s included: the consoles keep the newer copy of a call.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # caller_history: a number's calls of the last 90 days.
            models.Index(fields=["from_number", "started_at"], name="call_number_started"),
            models.Index(
                fields=["queue_state"],
                name="call_queue_live",
                condition=Q(queue_state__in=["waiting", "connecting", "connected"]),
            ),
            models.Index(fields=["started_at"], name="call_missed", condition=Q(missed=True)),
        ]

    def __str__(self):
        return f"{self.sid} {self.from_number} {self.status}"


class HandsetLocation(models.Model):
    """An Advanced Mobile Location text (ETSI TS 103 625, CONTRACT §10) that was valid: the
    position the caller's handset sent by itself.

    Not a `Call`: an AML is no message from a person, so it must never show among the calls, in
    a caller's history or in the conversation. It is kept as a row of its own because it often
    arrives before the call's incident exists: `incident` stays empty until a call from the
    same number opens one within minutes (`intake.PENDING_LOCATION_WINDOW`). The unique `sid`
    (MessageSid, or the SMS gateway's id) makes a repeated delivery change nothing."""

    sid = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=32)
    received_at = models.DateTimeField()
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    accuracy_m = models.PositiveIntegerField(help_text="Radius in metres (`rd`)")
    positioned_at = models.DateTimeField(help_text="When the handset positioned (`top`)")
    method = models.CharField(max_length=1, blank=True, help_text="G GNSS, W Wi-Fi, C cell")
    confidence = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Per cent")
    incident = models.ForeignKey(
        "dispatch.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handset_locations",
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # A new incident looks for its number's pending AML of the last minutes.
            models.Index(
                fields=["from_number", "received_at"],
                name="handset_location_pending",
                condition=Q(incident__isnull=True),
            )
        ]

    def __str__(self):
        return f"{self.sid} {self.from_number} {self.latitude},{self.longitude}"


# Where a text stands. Twilio's message statuses (and the SMS gateway's) in the order a text
# lives through them; a delivery callback that arrives late never moves a text back.
MESSAGE_STATUS_RANK = {
    "received": 0,
    "queued": 0,
    "accepted": 0,
    "scheduled": 0,
    "sending": 1,
    "sent": 2,
    "simulated": 3,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "read": 4,
}


class Message(models.Model):
    """One text of an incident's conversation with its caller (CONTRACT §10): what the caller
    texted (`in`) and what the command centre texted back (`out`).

    A caller's first text also opens the incident and is recorded as a `Call` on the SMS
    channel (`call`), like a voice call; the texts that follow within the conversation window
    (`intake.CONVERSATION_WINDOW`) join the incident as messages only."""

    class Direction(models.TextChoices):
        IN = "in", _("From the caller")
        OUT = "out", _("To the caller")

    incident = models.ForeignKey(
        "dispatch.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # The caller's number: the sender of an `in` text, the recipient of an `out` one.
    number = models.CharField(max_length=32)
    body = models.TextField()
    at = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=16)
    error = models.CharField(max_length=300, blank=True)
    # MessageSid or `gw-<id>` of an `in` text (the intake is idempotent on it); the provider's
    # id of an `out` one once it is sent.
    sid = models.CharField(max_length=64, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["direction", "sid"], name="message_unique_sid"),
        ]
        indexes = [models.Index(fields=["incident", "at"], name="message_conversation")]

    def __str__(self):
        return f"{self.direction} {self.number} {self.status}"

    @property
    def status_rank(self):
        return MESSAGE_STATUS_RANK.get(self.status, -1)
