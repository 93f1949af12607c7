"""Reference data and people: areas, categories, agencies (OPD), routing rules, escalation
policies and the users who work the consoles."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Area(models.Model):
    class Kind(models.TextChoices):
        KECAMATAN = "kecamatan", _("Kecamatan")
        KELURAHAN = "kelurahan", _("Kelurahan")

    code = models.CharField(max_length=16, unique=True, help_text="Kemendagri code, e.g. 36.72.08")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    aliases = models.CharField(
        max_length=200, blank=True, help_text="Other spellings, comma separated, for search"
    )
    # The area's centre on the map (WGS84), from the seed's table (agencies.cilegon.CENTROIDS).
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="kecamatan", parent__isnull=True)
                | Q(kind="kelurahan", parent__isnull=False),
                name="area_kelurahan_has_parent",
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def kecamatan(self):
        return self if self.kind == self.Kind.KECAMATAN else self.parent


class Category(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    default_priority = models.PositiveSmallIntegerField(
        default=3, help_text="1 kritis, 2 tinggi, 3 sedang, 4 rendah"
    )

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "categories"
        constraints = [
            models.CheckConstraint(
                condition=Q(default_priority__gte=1, default_priority__lte=4),
                name="category_priority_1_to_4",
            )
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class EscalationAction(models.TextChoices):
    """What a policy step may do: the one list the validator, the sweep's handlers
    (dispatch.escalation, checked at start) and the consoles' labels all read."""

    NOTIFY_AGENCY = "notify_agency", _("Re-alert the agency")
    NOTIFY_SUPERVISORS = "notify_supervisors", _("Alert supervisors")
    SMS_AGENCY = "sms_agency", _("SMS to the duty phone")
    CALL_AGENCY = "call_agency", _("Call the duty officer")
    REROUTE = "reroute", _("Reroute")


# A step beyond a week is a typo, and a huge one would overflow the deadline arithmetic.
MAX_STEP_SECONDS = 7 * 24 * 3600


def validate_escalation_steps(steps):
    """A policy is an ordered list of `{"after_seconds": N >= 1, "action": A}` (CONTRACT §8)."""
    if not isinstance(steps, list):
        raise ValidationError(_("Steps must be a list."))
    previous = 0
    for index, step in enumerate(steps, start=1):
        if not isinstance(step, dict) or set(step) != {"after_seconds", "action"}:
            raise ValidationError(
                _("Step %(n)s must have exactly after_seconds and action."), params={"n": index}
            )
        after = step["after_seconds"]
        if not isinstance(after, int) or isinstance(after, bool) or after < 1:
            raise ValidationError(
                _("Step %(n)s: after_seconds must be a whole number ≥ 1."), params={"n": index}
            )
        if after > MAX_STEP_SECONDS:
            raise ValidationError(
                _("Step %(n)s: the delay (after_seconds) may be at most a week."),
                params={"n": index},
            )
        if after <= previous:
            raise ValidationError(
                _("Step %(n)s: the delay (after_seconds) must be longer than the step before."),
                params={"n": index},
            )
        if step["action"] not in EscalationAction.values:
            raise ValidationError(
                _("Step %(n)s: unknown action %(a)s."), params={"n": index, "a": step["action"]}
            )
        previous = after


class EscalationPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    steps = models.JSONField(default=list, validators=[validate_escalation_steps])

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self):
        return self.name


class Agency(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=20, blank=True, help_text="Duty phone, E.164")
    is_active = models.BooleanField(default=True)
    escalation_policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="agencies"
    )
    backup_agency = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Receives the incident when an escalation reroutes it; none: the command centre",
    )

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "agencies"

    def __str__(self):
        return self.code


class RoutingRule(models.Model):
    """Which agencies answer a category in a kecamatan. Null means "any"."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, related_name="routing_rules"
    )
    area = models.ForeignKey(
        Area,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
        limit_choices_to={"kind": Area.Kind.KECAMATAN},
    )
    agencies = models.ManyToManyField(Agency, related_name="routing_rules")
    priority = models.IntegerField(default=100, help_text="Lower wins a tie")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        category = self.category.code if self.category_id else "*"
        area = self.area.code if self.area_id else "*"
        return f"#{self.pk} {category} @ {area}"

    def clean(self):
        if self.area_id and self.area.kind != Area.Kind.KECAMATAN:
            raise ValidationError({"area": _("A routing rule's area must be a kecamatan.")})


class DispatchUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", User.Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        SUPERVISOR = "supervisor", _("Supervisor")
        OPERATOR = "operator", _("Operator")
        AGENCY_STAFF = "agency_staff", _("Agency staff")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    phone = models.CharField(max_length=20, blank=True)
    answer_device = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where a picked-up 112 caller rings this operator: an E.164 number or a "
        "sip: address. Empty: the browser softphone.",
    )

    objects = DispatchUserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role="agency_staff", agency__isnull=False)
                | (~Q(role="agency_staff") & Q(agency__isnull=True)),
                name="user_agency_only_for_staff",
            )
        ]

    @property
    def softphone_identity(self):
        """The client name this user's browser softphone registers as with Twilio."""
        return f"operator_{self.pk}"

    @property
    def is_command_centre(self):
        """Operators, supervisors and admins see and act on everything."""
        return self.role in (self.Role.ADMIN, self.Role.SUPERVISOR, self.Role.OPERATOR)

    @property
    def oversees(self):
        """Supervisors, and admins above them: the reports and the wall display."""
        return self.is_superuser or self.role in (self.Role.ADMIN, self.Role.SUPERVISOR)

    def clean(self):
        super().clean()
        if self.role == self.Role.AGENCY_STAFF and not self.agency_id:
            raise ValidationError({"agency": _("Agency staff must belong to an agency.")})
        if self.role != self.Role.AGENCY_STAFF and self.agency_id:
            raise ValidationError({"agency": _("Only agency staff can belong to an agency.")})


class ConfigArea(models.TextChoices):
    """The parts of the configuration the desk (/config/) shows; agencies.rights says who may
    view or change each, and every change to one is a ConfigChange."""

    ROUTING = "routing", _("Routing rules")
    POLICIES = "policies", _("Escalation policies")
    AGENCIES = "agencies", _("Agencies")
    USERS = "users", _("Users")


class ConfigChange(models.Model):
    """One change to the configuration, written in the change's own transaction
    (agencies.audit). Append-only: on PostgreSQL a trigger (migration 0005) rejects UPDATE
    and DELETE, so not even a bug or the Django admin can rewrite the history."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")
        DEACTIVATE = "deactivate", _("Deactivated")
        REACTIVATE = "reactivate", _("Reactivated")
        PASSWORD_RESET = "password_reset", _("Password reset")

    class Via(models.TextChoices):
        DESK = "desk", _("Configuration page")
        API = "api", _("API")
        ADMIN = "admin", _("Django admin")

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT: someone who changed the configuration stays on record (people are deactivated,
    # not deleted); null only for changes made outside a request (a shell, a command).
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="config_changes"
    )
    area = models.CharField(max_length=16, choices=ConfigArea.choices)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=Action.choices)
    via = models.CharField(max_length=8, choices=Via.choices)
    # The object's fields before and after (agencies.audit.snapshot), never a password hash.
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["area", "-at"], name="configchange_area_at")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.area} {self.object_repr}"
