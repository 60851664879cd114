"""ASGI entry point: the production server (uvicorn) serves this, streaming included."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiassistant.settings")

# Django's handler, without the reference cycle Django's own leaves behind every request.
from backend.asgi_handler import get_asgi_application

django_application = get_asgi_application()

from backend.asgi_limits import with_request_limits  # noqa: E402 - needs the settings configured above
from backend.lifespan import with_lifespan  # noqa: E402
from backend.streaming.asgi import with_streaming_fast_path  # noqa: E402
from chat.apis.asgi_reads import with_fast_reads  # noqa: E402

# Header and body ceilings are enforced before Django reads the body (backend.asgi_limits); the
# chat list and history page are answered in front of Django for token clients
# (chat.apis.asgi_reads), and the streaming views of token clients skip Django's per-request
# thread (backend.streaming.asgi).
application = with_lifespan(with_request_limits(with_fast_reads(with_streaming_fast_path(django_application))))
