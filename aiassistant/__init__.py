"""The Django project: configuration only (settings, URLs, ASGI/WSGI entry points, Celery app)."""

from aiassistant.celery import app as celery_app

__all__ = ["celery_app"]
