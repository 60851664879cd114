"""The fuzz run shares the end-to-end tests' live server (uvicorn serving the real ASGI app)."""

from tests.e2e.conftest import live_server_asgi  # noqa: F401 - a fixture, re-exported
