from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"

    def ready(self):
        from dispatch import signals  # noqa: F401 (connects the receivers)
