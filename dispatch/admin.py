from django.contrib import admin

from agencies.admin import RecordAdmin
from dispatch.models import Assignment, Incident, IncidentEvent, Notification


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 0
    fields = ["agency", "status", "acknowledged_at", "acknowledged_by", "escalation_level"]
    readonly_fields = fields
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    """Read-mostly: changes go through the consoles and the API so the timeline records them."""

    list_display = ["reference", "status", "category", "priority", "area", "created_at"]
    list_filter = ["status", "category", "unroutable"]
    search_fields = ["reference", "caller_phone", "description"]
    readonly_fields = [field.name for field in Incident._meta.fields]
    inlines = [AssignmentInline]

    def has_add_permission(self, request):
        return False


@admin.register(IncidentEvent)
class IncidentEventAdmin(RecordAdmin):
    list_display = ["id", "type", "incident", "agency", "actor", "at"]
    list_filter = ["type"]
    readonly_fields = [field.name for field in IncidentEvent._meta.fields]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "assignment", "step", "channel", "recipient", "status", "attempts"]
    list_filter = ["channel", "status"]
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request):
        return False
