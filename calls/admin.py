from django.contrib import admin

from calls.models import Call


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["sid", "channel", "from_number", "status", "classification", "started_at"]
    list_filter = ["channel", "status", "classification"]
    search_fields = ["sid", "from_number"]
    readonly_fields = [field.name for field in Call._meta.fields]
