from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Project-wide management commands (serve) and system checks. Holds no models."""

    name = "backend.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from backend.core import checks  # noqa: F401 - registers the system checks
