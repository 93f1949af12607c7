"""The configuration audit log as the desk shows it: an area's latest changes, newest first,
each as field-by-field *before → after* in words people read."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agencies import audit
from agencies.models import ConfigChange, EscalationAction, User

# How many of an area's latest changes its page shows.
LOG_LENGTH = 30


def readable(field, value):
    """A logged value as a person reads it."""
    if field == "role" and value in User.Role.values:
        return User.Role(value).label
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(step_text(item) if isinstance(item, dict) else str(item) for item in value)
    return str(value)


def step_text(step):
    """`{"after_seconds": 120, "action": "sms_agency"}` → "2 min: SMS to the duty phone"."""
    minutes = step["after_seconds"] / 60
    shown = f"{minutes:g}"
    action = step["action"]
    label = EscalationAction(action).label if action in EscalationAction.values else action
    return _("%(minutes)s min: %(action)s") % {"minutes": shown, "action": label}


# The names of the logged fields (agencies.audit's snapshots) on the page.
FIELD_LABELS = {
    "code": gettext_lazy("Code"),
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "is_active": gettext_lazy("Active"),
    "escalation_policy": gettext_lazy("Escalation policy"),
    "backup_agency": gettext_lazy("Backup agency"),
    "category": gettext_lazy("Category"),
    "area": gettext_lazy("Kecamatan"),
    "agencies": gettext_lazy("Agencies"),
    "priority": gettext_lazy("Priority"),
    "steps": gettext_lazy("Steps"),
    "username": gettext_lazy("Username"),
    "role": gettext_lazy("Role"),
    "agency": gettext_lazy("Agency"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "email": gettext_lazy("Email"),
}


def log_entries(area):
    changes = ConfigChange.objects.filter(area=area).select_related("actor")[:LOG_LENGTH]
    return [
        {
            "change": change,
            "fields": [
                (FIELD_LABELS.get(field, field), readable(field, before), readable(field, after))
                for field, before, after in audit.field_changes(change)
            ],
        }
        for change in changes
    ]
