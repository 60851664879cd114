"""ASGI entry point: the production server (uvicorn) serves this, streaming included."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")

django_application = get_asgi_application()

from backend.lifespan import with_lifespan  # noqa: E402 - needs the settings configured above

application = with_lifespan(django_application)
