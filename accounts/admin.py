"""API tokens in the admin: who has one and since when, never the key itself (DRF's own admin
lists every key in clear, and a token's pages carry the key in their title). A list only: an
admin ends a user's token by changing their password or deactivating them."""

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import TokenProxy

from accounts.tokens import is_expired

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["user", "key_prefix", "created", "expired"]
    list_display_links = None
    actions = None
    search_fields = ["user__username"]
    ordering = ["-created"]

    @admin.display(description=_("Key"))
    def key_prefix(self, token):
        return f"{token.key[:4]}…"

    @admin.display(description=_("Expired"), boolean=True)
    def expired(self, token):
        return is_expired(token)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def has_add_permission(self, request):
        return False  # tokens are issued by POST /api/v1/auth/token/

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
