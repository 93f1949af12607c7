from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

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


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "phone", "is_active", "escalation_policy", "backup_agency"]
    list_filter = ["is_active"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "category", "area", "priority", "is_active"]
    list_filter = ["is_active", "category"]
    filter_horizontal = ["agencies"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name"]


@admin.register(User)
class DispatchUserAdmin(UserAdmin):
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


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    """The audit log, to read: nobody adds, changes or deletes an entry (the database refuses
    the last two on PostgreSQL anyway)."""

    list_display = ["at", "actor", "area", "action", "object_repr", "via"]
    list_filter = ["area", "action", "via"]
    search_fields = ["object_repr", "actor__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
