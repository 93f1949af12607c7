from django.contrib import admin

from calls.models import Call, Message


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["sid", "channel", "from_number", "status", "classification", "started_at"]
    list_filter = ["channel", "status", "classification"]
    search_fields = ["sid", "from_number"]
    readonly_fields = [field.name for field in Call._meta.fields]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Texts are a record of what was said: read-only, like the calls."""

    list_display = ["at", "direction", "number", "status", "incident"]
    list_filter = ["direction", "status"]
    search_fields = ["number", "sid", "incident__reference"]
    readonly_fields = [field.name for field in Message._meta.fields]
