from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AdminAssistantConfig(AppConfig):
    name = "adminassistant"
    verbose_name = "AI assistant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from adminassistant import manifest

        manifest.rebuild()  # introspection only: no database access at startup
        post_migrate.connect(manifest.on_post_migrate, dispatch_uid="adminassistant-manifest")
