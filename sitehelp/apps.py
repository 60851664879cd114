from django.apps import AppConfig


class SitehelpConfig(AppConfig):
    name = "sitehelp"
    verbose_name = "Site help"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # CORS for the widget's API: only the origins in HELP_WIDGET_ALLOWED_ORIGINS (signal receiver).
        from sitehelp import cors  # noqa: F401
