"""WSGI entry point (CRUD-only deployments; streaming needs the ASGI entry point)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")

application = get_wsgi_application()
