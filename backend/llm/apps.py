from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "backend.llm"
    label = "llm"
    verbose_name = "LLM usage"
    default_auto_field = "django.db.models.BigAutoField"
