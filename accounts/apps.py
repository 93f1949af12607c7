from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing in and staying signed in: lockout, second factor, API tokens, and the
    `credentials_ended` signal when a user's credentials stop being valid (CONTRACT §5, §12)."""

    name = "accounts"

    def ready(self):
        from accounts import signals  # noqa: F401 (connects the receivers)
