from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

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


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "parent"]
    list_filter = ["kind"]
    search_fields = ["code", "name", "aliases"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "default_priority"]


class AuditedAdmin:
    """Changes made in the Django admin go into the configuration audit log too, inside the
    admin's own transaction (its add, change and delete views run in one)."""

    def save_model(self, request, obj, form, change):
        # The entry is written once the many-to-many fields are saved too (save_related);
        # the state before is kept on the request until then.
        request.config_state_before = audit.locked_state(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        audit.record(
            request.user,
            form.instance,
            request.config_state_before,
            via=ConfigChange.Via.ADMIN,
        )

    def delete_model(self, request, obj):
        audit.record(
            request.user,
            obj,
            audit.locked_state(obj),
            via=ConfigChange.Via.ADMIN,
            action=ConfigChange.Action.DELETE,
        )
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Agency)
class AgencyAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["code", "name", "phone", "is_active", "escalation_policy", "backup_agency"]
    list_filter = ["is_active"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["__str__", "category", "area", "priority", "is_active"]
    list_filter = ["is_active", "category"]
    filter_horizontal = ["agencies"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name"]


@admin.register(User)
class DispatchUserAdmin(AuditedAdmin, UserAdmin):
    list_display = ["username", "role", "agency", "is_active"]
    list_filter = ["role", "agency", "is_active"]
    fieldsets = [
        *UserAdmin.fieldsets,
        ("112", {"fields": ["role", "agency", "phone"]}),
    ]
    add_fieldsets = [
        *UserAdmin.add_fieldsets,
        ("112", {"fields": ["role", "agency", "phone"]}),
    ]


class RecordAdmin(admin.ModelAdmin):
    """A record of what happened (the audit log, the timeline), to read only: nobody adds,
    changes or deletes an entry in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConfigChange)
class ConfigChangeAdmin(RecordAdmin):
    """The database refuses changes and deletions of an entry too (PostgreSQL)."""

    list_display = ["at", "actor", "area", "action", "object_repr", "via"]
    list_filter = ["area", "action", "via"]
    search_fields = ["object_repr", "actor__username"]
