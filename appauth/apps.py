from django.apps import AppConfig


class AppauthConfig(AppConfig):
    name = "appauth"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI description of the token header.
        from appauth import authentication, handlers, token_cache  # noqa: F401

        handlers.connect()
        token_cache.connect()
