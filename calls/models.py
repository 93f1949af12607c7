"""Telephony records: every 112 call (and, later, SMS) that reached the platform."""

from django.db import models
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

    sid = models.CharField(max_length=64, unique=True)
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

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.sid} {self.from_number} {self.status}"
