"""Celery application. Tasks live in each app's `tasks.py`; configuration comes from settings (CELERY_*)."""

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")

app = Celery("aiassistant")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_the_apps_logging(**kwargs: Any) -> None:
    """The worker and beat log like the web process (LOG_FORMAT, LOG_LEVEL, request ids, redaction)."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# Connects the signals that carry the request id into tasks.
import backend.tasks  # noqa: E402, F401
