from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing in and staying signed in: lockout, second factor, API tokens, and closing the
    dashboard sockets of credentials that stopped being valid (CONTRACT §7, §12)."""

    name = "accounts"

    def ready(self):
        from accounts import signals  # noqa: F401 (connects the receivers)
