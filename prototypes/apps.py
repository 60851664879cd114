from django.apps import AppConfig


class PrototypesConfig(AppConfig):
    name = "prototypes"
    verbose_name = "UI prototypes"
    default_auto_field = "django.db.models.BigAutoField"
