from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "backend.streaming"
    label = "streaming"
    verbose_name = "Streaming"
    default_auto_field = "django.db.models.BigAutoField"
