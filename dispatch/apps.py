from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DispatchConfig(AppConfig):
    name = "dispatch"

    def ready(self):
        from dispatch import (
            escalation,
            signals,  # noqa: F401 (connects the receivers)
        )

        escalation.check_actions()
        check_require_2fa()


def check_require_2fa():
    """REQUIRE_2FA names roles of the User model; checked here because the settings module
    cannot read the model, and a typo would quietly leave a role without its second factor."""
    from agencies.models import User

    unknown = sorted(set(settings.REQUIRE_2FA) - set(User.Role.values))
    if unknown:
        raise ImproperlyConfigured(
            f"REQUIRE_2FA names unknown roles: {', '.join(unknown)}. "
            f"Set it to a comma-separated list of: {', '.join(User.Role.values)}."
        )
