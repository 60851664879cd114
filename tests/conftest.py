"""Test-wide fixtures: real PostgreSQL and Redis when reachable, the Bedrock emulator, a clean cache.

Backing services: the settings point at PostgreSQL (database `test`) and Redis (db 15) on
loopback. If one is unreachable, tests marked `postgres`/`redis` are skipped, the rest run on
SQLite / in-process memory, and the summary says so loudly; with REQUIRE_SERVICES=1 (CI) an
unreachable service fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

if TYPE_CHECKING:
    from appauth.models import AppUser
    from tests.appauth.google_keys import GoogleKeyServer

# The session-wide live server (uvicorn serving the real ASGI app) of the end-to-end tests, the fuzz
# run and the Celery worker test.
pytest_plugins = ["tests.e2e.live"]

_missing_services: list[str] = []
_run_folders: list[str] = []


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("django"):
        return  # a run with -p no:django (the emulator's own tests) needs no services
    from django.conf import settings

    # Uploads never land in the checkout's media/: this run's own folder (inherited by the
    # subprocesses tests start), and each test's own one (the `media_root` fixture).
    media_root = tempfile.mkdtemp(prefix="aiassistant-media-")
    _run_folders.append(media_root)
    os.environ["MEDIA_ROOT"] = media_root
    settings.MEDIA_ROOT = media_root
    # Templates name static files; the hashed names of production (DEBUG off) need a
    # collectstatic run, which tests/test_static_files.py does for itself.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        url = f"postgres://{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}"
        if not _reachable(url, 5432):
            _missing_services.append("postgres")
            # A file, not ":memory:": the shared-cache in-memory database locks whole tables, and
            # streaming views reach the database from several threads at once.
            path = os.path.join(tempfile.mkdtemp(prefix="aiassistant-tests-"), "test.sqlite3")
            settings.DATABASES = {
                "default": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": path,
                    "TEST": {"NAME": path},
                    "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
                }
            }
    if settings.REDIS_URL and not _reachable(settings.REDIS_URL, 6379):
        _missing_services.append("redis")
        settings.REDIS_URL = ""
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if _missing_services:
        _reload_connection_handlers()
    if _missing_services and os.environ.get("REQUIRE_SERVICES") == "1":
        raise pytest.UsageError(
            f"REQUIRE_SERVICES=1 but these services are unreachable: {', '.join(_missing_services)}"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _run_folders:
        shutil.rmtree(folder, ignore_errors=True)


def _reload_connection_handlers() -> None:
    """Make the database and cache handlers read the swapped settings.

    Django has already set its handlers up (and cached their settings) when this runs, so
    changing settings alone would leave every test talking to the unreachable server; this is
    what Django's own `clear_cache_handlers` does when CACHES is overridden.
    """
    from asgiref.local import Local
    from django.core.cache import caches
    from django.db import connections

    for handler in (connections, caches):
        handler.close_all()
        handler._settings = handler.settings = handler.configure_settings(None)  # type: ignore[attr-defined]
        handler._connections = Local(handler.thread_critical)  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for service in _missing_services:
            if service in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"{service} is not reachable on loopback"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing_services:
        terminalreporter.write_sep(
            "!",
            f"SERVICES UNREACHABLE: {', '.join(_missing_services)} -- tests needing them were SKIPPED",
            red=True,
            bold=True,
        )


@pytest.fixture(autouse=True)
def media_root(request: pytest.FixtureRequest) -> Path | None:
    """Every test stores uploads on the file system under its own temporary MEDIA_ROOT (returned)."""
    if not request.config.pluginmanager.hasplugin("django"):
        return None
    settings = request.getfixturevalue("settings")
    root: Path = request.getfixturevalue("tmp_path") / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return root


@pytest.fixture
def user(db: None) -> AppUser:
    """A verified user (tests.factories.UserFactory); `client` fixtures of the apps act as this user."""
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db: None) -> AppUser:
    """A second user, for checks that one user never reaches another's data."""
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture(scope="session")
def google_key_server() -> Iterator[GoogleKeyServer]:
    """Google's key endpoint, served locally with keys made for the tests (tests/appauth/google_keys.py)."""
    from tests.appauth.google_keys import GoogleKeyServer

    server = GoogleKeyServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def google(google_key_server: GoogleKeyServer, settings: Any) -> Iterator[GoogleKeyServer]:
    """Google sign-in configured against the local key server (never the internet)."""
    from backend import google_identity
    from tests.appauth.google_keys import IOS_CLIENT_ID, WEB_CLIENT_ID

    settings.GOOGLE_JWKS_URL = google_key_server.url
    settings.GOOGLE_CLIENT_IDS = [WEB_CLIENT_ID, IOS_CLIENT_ID]
    google_key_server.status = 200
    google_identity.reset_clients()
    yield google_key_server
    google_key_server.status = 200
    google_identity.reset_clients()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[object]:
    """The Bedrock emulator, in-process on a free loopback port, for the whole session."""
    from backend.llm.emulator import EmulatorServer

    server = EmulatorServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _bedrock_points_at_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test talks to the emulator over HTTP, never to AWS, Anthropic or OpenAI."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.test import override_settings

    from backend.llm import providers

    server = request.getfixturevalue("emulator_server")
    # The Anthropic and OpenAI-compatible adapters reach the same emulator through their base URLs;
    # their SDKs do not retry (a retry would only slow down the fault tests).
    sdk_providers = {
        "anthropic": {"base_url": server.url, "api_key_env": "ANTHROPIC_API_KEY"},
        "openai": {"base_url": f"{server.url}/v1", "api_key_env": "OPENAI_API_KEY"},
    }
    with override_settings(
        BEDROCK_ENDPOINT_URL=server.url,
        BEDROCK_CREDENTIALS_CONFIGURED=False,
        LLM_PROVIDERS=sdk_providers,
        LLM_PROVIDER_MAX_RETRIES=0,
    ):
        providers.reset_clients()
        yield
    providers.reset_clients()


@pytest.fixture
def emulator(emulator_server: object) -> Iterator[object]:
    """The emulator with no rules, throttles, recorded requests or cached prompts left over."""
    emulator_server.reset()  # type: ignore[attr-defined]
    yield emulator_server
    emulator_server.reset()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clean_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    """Cooldowns, rate-limit counters and stream logs never leak between tests."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.core.cache import cache

    from backend.llm import cooldown

    cache.clear()
    cooldown.forget_local_snapshot()
    yield
    cache.clear()
    cooldown.forget_local_snapshot()


@pytest.fixture(scope="session", autouse=True)
def _close_database_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """backend.db's threads keep connections open; close them before the test database is dropped."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    from backend import db

    db.close_connections()


@pytest.fixture
def s3_server() -> Iterator[str]:
    """An S3 endpoint (moto's server) on a free loopback port, for storage tests over real HTTP."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    yield f"http://{host}:{bound}"
    server.stop()


@pytest.fixture
def hashing_embedder(settings) -> Iterator[None]:
    """Retrieval on a fast, deterministic stand-in embedder (tests/retrieval/fakes.py), no vectors cached."""
    from retrieval.selectors import matrices_forget

    settings.EMBEDDINGS_BACKEND = "tests.retrieval.fakes.HashingEmbedder"
    matrices_forget()
    yield
    matrices_forget()
