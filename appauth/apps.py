from django.apps import AppConfig


class AppauthConfig(AppConfig):
    name = "appauth"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
