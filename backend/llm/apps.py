from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "backend.llm"
    label = "llm"
    verbose_name = "LLM usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.llm import providers

        # The SDKs the aliases need are imported now, not on the event loop during a first request.
        providers.preload()
