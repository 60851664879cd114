from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Project-wide management commands (serve). Holds no models."""

    name = "backend.core"
    label = "core"
    verbose_name = "Core"
