"""Settings for the whole product: the only module that reads the environment.

Every value has an embedded default so that `make run` works on a fresh machine
(SQLite, in-process cache, eager Celery, local files, console email, the LLM
emulator). Production switches each part on by setting one variable; the README
lists every variable with its default.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# Layout: one section per concern, each under a heading of this one style; the shared parts first,
# then one section per app. Every setting is assigned exactly once: a section that needs another
# section's value reads it, it never reopens it (no `.update()`, no `X[...] = ...` further down).

# --- Core -----------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
_DEV_SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 - DEBUG only
SECRET_KEY = env("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (production). For development set DEBUG=1, "
        "as the make targets and manage.py do."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
SITE_NAME = env("SITE_NAME", default="AI Assistant")
# The port `make run` serves on, and the LLM emulator's port (`make emulator`).
PORT = env.int("PORT", default=8000)
EMULATOR_PORT = env.int("EMULATOR_PORT", default=8765)
# Links in e-mails point at the front end. With DEBUG on and no front end configured they open
# this server's development pages (backend.core.devpages), so they work with `make run` alone.
FRONTEND_URL = env("FRONTEND_URL", default=f"http://127.0.0.1:{PORT}" if DEBUG else "http://localhost:3000").rstrip("/")
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="support@localhost")

INSTALLED_APPS = [
    # Before django.contrib.admin: its admin/base_site.html overrides the admin's own (the drawer).
    "adminassistant",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backend.core",
    "backend.llm",
    "backend.streaming",
    "appauth",
    "social_django",
    "chat",
    "prototypes",
    "sitehelp",
    "rosetta",
    "retrieval",
    "tools",
]

# Django's stock middleware, subclassed in backend.middleware so that none of them costs a
# thread hop per request under ASGI (same behaviour otherwise).
MIDDLEWARE = [
    "backend.middleware.RequestIdMiddleware",
    "backend.middleware.NoStoreMiddleware",
    "backend.middleware.SecurityMiddleware",
    "backend.middleware.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "backend.middleware.SessionMiddleware",
    "backend.middleware.CommonMiddleware",
    "backend.middleware.CsrfViewMiddleware",
    "backend.middleware.AuthenticationMiddleware",
    "backend.middleware.MessageMiddleware",
    "backend.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aiassistant.urls"
WSGI_APPLICATION = "aiassistant.wsgi.application"
ASGI_APPLICATION = "aiassistant.asgi.application"
# Async callables run when the ASGI server starts and stops (backend.lifespan).
# The last two build the model clients for the server's loop, then freeze the warmed-up heap.
ASGI_STARTUP_HOOKS = [
    "backend.streaming.engine.startup",
    "backend.llm.service.awarm_clients",
    "backend.lifespan.freeze_heap",
]
ASGI_SHUTDOWN_HOOKS = [
    "backend.streaming.engine.shutdown",
    # The follow-ups of the answers that ended last are published before the process exits.
    "backend.tasks.aflush_published",
    "backend.db.aclose_connections",
    # Close the providers' async (aiohttp/httpx) clients, so Ctrl-C prints no "Unclosed client session".
    "backend.llm.service.aclose_clients",
    # The event loop's Redis client of the cache's async reads (`backend.cache.RedisCache.aget`).
    "backend.cache.aclose_async_clients",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The strings of the admin assistant's drawer in the admin pages.
                "adminassistant.context_processors.strings",
            ],
        },
    },
]

AUTH_USER_MODEL = "appauth.AppUser"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
# Languages of the pages (Django i18n; catalogues in each app's locale/, editable in /rosetta/).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Database -------------------------------------------------------------------------------------
# DATABASE_URL unset -> a SQLite file next to manage.py (the embedded default).

_default_database = env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Name of the throwaway database the test runner creates (default: "test_" + NAME).
if env("DATABASE_TEST_NAME", default=""):
    _default_database["TEST"] = {"NAME": env("DATABASE_TEST_NAME")}
if _default_database["ENGINE"] == "django.db.backends.postgresql":
    _default_database["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOL", default=False):
        # Django's psycopg pool; persistent connections must then be off.
        _default_database["CONN_MAX_AGE"] = 0
        _default_database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    else:
        _default_database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
elif _default_database["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default has writers on several threads at once (streamed answers, the eager
    # Celery pool's titles and memories). A transaction that read first and then writes cannot
    # wait for another writer in SQLite's default (deferred) mode: it fails at once with
    # "database is locked". Transactions take the write lock when they begin instead, and every
    # writer waits up to the timeout for it.
    _default_database.setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": env.int("SQLITE_TIMEOUT_SECONDS", default=20)}
    )

# The hottest read statements (chat list and history page) are prepared once per connection
# (`backend.db.prepared_cursor`); Django's own queries never are. Turn off behind a pooler in
# transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)

# The admin assistant's generated queries run on their own alias. ADMIN_ASSISTANT_DATABASE_URL should
# connect as the restricted role that `manage.py adminassistant_role` creates (SELECT on allowed
# columns only); unset, the alias reuses the default database's credentials (read-only transactions
# only), and on the embedded SQLite default the file is opened read-only.
ADMIN_ASSISTANT_DATABASE_ALIAS = "adminassistant"
_admin_assistant_url = env("ADMIN_ASSISTANT_DATABASE_URL", default="")
if _admin_assistant_url:
    _admin_assistant_database = env.db_url_config(_admin_assistant_url)
elif _default_database["ENGINE"] == "django.db.backends.sqlite3":
    _admin_assistant_database = {
        **_default_database,
        "NAME": f"file:{_default_database['NAME']}?mode=ro",
        "OPTIONS": {"uri": True},
    }
else:
    _admin_assistant_database = {
        **_default_database,
        "OPTIONS": {k: v for k, v in _default_database.get("OPTIONS", {}).items() if k != "pool"},
    }
_admin_assistant_database["CONN_MAX_AGE"] = 0
# Tests read the default test database through this alias (its own connection, its own role).
_admin_assistant_database["TEST"] = {"MIRROR": "default"}

DATABASES = {"default": _default_database, ADMIN_ASSISTANT_DATABASE_ALIAS: _admin_assistant_database}

# Threads (each with its own connection) that run the database work of async code, such as
# streamed answers; bounds the connections used whatever the number of open streams.
DB_THREADS = env.int("DB_THREADS", default=8)

# --- Cache, rate-limit counters, stream log -------------------------------------------------------

REDIS_URL = env("REDIS_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "backend.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="aia"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Celery ---------------------------------------------------------------------------------------
# No broker configured -> tasks run inline (eager), which is the embedded default.

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
# Eager tasks enqueued with backend.tasks.dispatch run on a background thread, not in the request.
CELERY_EAGER_BACKGROUND = env.bool("CELERY_EAGER_BACKGROUND", default=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis redelivers an unacknowledged task only after this many seconds (default 1 h).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
    # Redis hands out a task lost with its worker again only when a worker sweeps for unacknowledged
    # tasks older than the visibility timeout; kombu's default sweep runs every ~100 s, this makes it
    # explicit.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS", default=30),
    "unacked_restore_throttle": 1,
    # A broker that stops answering fails a publish after this many seconds instead of holding the
    # publishing thread (and the follow-ups queued behind it) for good; kombu's default waits forever.
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=10.0),
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=5.0),
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Every periodic task of every app (run by `celery beat`).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Ends the generations of dead or hung processes (each web process sweeps too).
    "streaming-sweep-generations": {
        "task": "backend.streaming.tasks.sweep_generations",
        "schedule": env.float("STREAM_BEAT_SWEEP_SECONDS", default=30.0),
    },
    "streaming-purge-idempotency-keys": {"task": "backend.streaming.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "chat-purge-unclaimed-attachments": {"task": "chat.tasks.purge_unclaimed_attachments", "schedule": 3600.0},
    "chat-purge-memory-extractions": {"task": "chat.tasks.purge_memory_extractions", "schedule": 24 * 3600.0},
    "sitehelp-purge-expired": {"task": "sitehelp.tasks.purge_expired", "schedule": 24 * 3600.0},
}

# --- Files: uploads, avatars, attachments, static files -------------------------------------------
# AWS_STORAGE_BUCKET_NAME set -> S3 (or any S3 endpoint via AWS_S3_ENDPOINT_URL).

MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_URL = "/static/"

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
# Storage credentials of their own (e.g. MinIO); unset -> the standard AWS chain, as for Bedrock.
AWS_S3_ACCESS_KEY_ID = env("AWS_S3_ACCESS_KEY_ID", default=None)
AWS_S3_SECRET_ACCESS_KEY = env("AWS_S3_SECRET_ACCESS_KEY", default=None)
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default=env("AWS_REGION", default="us-east-1"))
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=900)
AWS_S3_FILE_OVERWRITE = False
AWS_S3_SIGNATURE_VERSION = "s3v4"
STORAGES: dict[str, dict[str, Any]] = {
    "default": (
        {
            # S3Storage that stores and serves user files as downloads of a fixed type (docs/security.md).
            "BACKEND": "backend.storage.MediaS3Storage",
            "OPTIONS": {"location": env("AWS_S3_MEDIA_PREFIX", default="media")},
        }
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    # The app serves its own static files (admin, Swagger UI) through WhiteNoise
    # (backend.middleware.StaticFilesMiddleware). With DEBUG off they come from STATIC_ROOT, filled
    # by `manage.py collectstatic`: content-hashed names cached for a year, with gzip copies.
    # With DEBUG on they are found in the apps' static/ folders on each request, no collectstatic.
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Request bodies: JSON bodies are small; uploads go to disk above 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Email ----------------------------------------------------------------------------------------
# EMAIL_URL names the transport and its server (smtp://, smtp+tls://, smtp+ssl://, consolemail://, …).

_email = env.email_url("EMAIL_URL", default="consolemail://")
# The console transport prints reset links to the log: with DEBUG off it refuses (backend.email).
EMAIL_BACKEND = (
    "backend.email.ConsoleRefusedBackend"
    if not DEBUG and _email["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    else _email["EMAIL_BACKEND"]
)
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"{SITE_NAME} <noreply@localhost>")
EMAIL_TIMEOUT = 10

# --- Auth and passwords ---------------------------------------------------------------------------

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- REST API -------------------------------------------------------------------------------------
# Tokens (appauth's knox tokens) or the session; the schema's settings are under "OpenAPI schema".

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "appauth.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    # JSON only, nesting-limited; form and multipart are accepted only by the views that take files.
    "DEFAULT_PARSER_CLASSES": ["backend.api.parsers.JSONParser"],
    "DEFAULT_METADATA_CLASS": "backend.api.metadata.RouteMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.api.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "backend.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# --- CORS and CSRF for single-page apps -----------------------------------------------------------

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "last-event-id",
    "x-csrftoken",
    "x-request-id",
    # The help widget sends its session token in this header.
    "x-help-session",
]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Production safety (DEBUG off) ----------------------------------------------------------------

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# TLS is usually terminated by the proxy; it must then set X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=not DEBUG) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Number of proxies in front of the app whose X-Forwarded-For entries are trusted (0 = use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Logging --------------------------------------------------------------------------------------

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "backend.logging.RequestIdFilter"},
        "redact": {"()": "backend.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {"()": "backend.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # No handlers of Django's own (its DEBUG console handler printed every 4xx a second time,
        # unformatted): Django's lines go to the root handler like everyone else's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "aiobotocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # The LLM providers' SDKs and their HTTP stack log request details at DEBUG.
        "anthropic": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
    },
}

# --- LLM: Amazon Bedrock, the Anthropic API, OpenAI-compatible servers ----------------------------
# BEDROCK_ENDPOINT_URL set -> Bedrock Runtime calls go there (e.g. the emulator).
# Credentials come from the standard AWS chain (env keys, profile, role) or AWS_BEARER_TOKEN_BEDROCK.

AWS_REGION = env("AWS_REGION", default="us-east-1")
BEDROCK_ENDPOINT_URL = env("BEDROCK_ENDPOINT_URL", default=None)
BEDROCK_CREDENTIALS_CONFIGURED = any(
    env(name, default="")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
)

LLM_CONNECT_TIMEOUT = env.float("LLM_CONNECT_TIMEOUT", default=5.0)
# For streams this bounds the gap between two events, not the whole answer.
LLM_STREAM_READ_TIMEOUT = env.float("LLM_STREAM_READ_TIMEOUT", default=90.0)
# A non-streaming call must receive its whole answer within this.
LLM_READ_TIMEOUT = env.float("LLM_READ_TIMEOUT", default=300.0)
LLM_MAX_POOL_CONNECTIONS = env.int("LLM_MAX_POOL_CONNECTIONS", default=1000)
LLM_THROTTLE_COOLDOWN_SECONDS = env.float("LLM_THROTTLE_COOLDOWN_SECONDS", default=20.0)
LLM_UNAVAILABLE_COOLDOWN_SECONDS = env.float("LLM_UNAVAILABLE_COOLDOWN_SECONDS", default=10.0)

# The model catalogue is data, not settings: backend/llm/catalogue.json lists every model (provider,
# limits, prices per million tokens) and the aliases with their fallback chains. LLM_CONFIG_FILE
# names a JSON file of the same shape, {"models": [...], "aliases": {...}}, used in its place.
_llm_catalogue = json.loads(
    Path(env("LLM_CONFIG_FILE", default="") or BASE_DIR / "backend" / "llm" / "catalogue.json").read_text()
)
LLM_MODELS: list[dict[str, Any]] = _llm_catalogue["models"]
LLM_DEFAULT_ALIAS = env("LLM_DEFAULT_ALIAS", default="chat-default")


def _internal_aliases(aliases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The catalogue's aliases plus the apps' internal ones (never selectable) it does not define.

    The admin assistant answers on `chat-default`'s chain; site help on `fast`'s (else the default
    alias's); each falls back to the catalogue's first alias.
    """
    merged = dict(aliases)
    first = next(iter(aliases.values()))
    merged.setdefault(
        "admin-assistant",
        {
            "label": "Admin data assistant",
            "chain": list(aliases.get("chat-default", first)["chain"]),
            "selectable": False,
        },
    )
    help_base = merged.get("fast") or merged.get(LLM_DEFAULT_ALIAS) or first
    merged.setdefault("help", {"label": "Site help", "chain": list(help_base["chain"]), "selectable": False})
    return merged


LLM_ALIASES: dict[str, dict[str, Any]] = _internal_aliases(_llm_catalogue["aliases"])

# A catalogue entry with "provider": "anthropic" or "openai" is called through that provider's
# official SDK (backend/llm/anthropic_api.py, backend/llm/openai_compat.py). Its connection
# (base_url, api_key_env) defaults to the provider's entry here. api_key_env is the NAME of
# the environment variable holding the key: keys never live in settings, the database or logs.
# No default alias uses these providers, so nothing changes until a chain names such a model;
# see docs/llm.md for an Anthropic API / Ollama configuration and a cross-provider chain.
LLM_PROVIDERS: dict[str, dict[str, Any]] = {
    "anthropic": {
        "base_url": env("ANTHROPIC_BASE_URL", default="https://api.anthropic.com"),
        "api_key_env": "ANTHROPIC_API_KEY",
    },
    "openai": {
        # Any Chat Completions server: OpenAI, Ollama (http://127.0.0.1:11434/v1), vLLM, LM Studio.
        "base_url": env("OPENAI_BASE_URL", default="https://api.openai.com/v1"),
        "api_key_env": "OPENAI_API_KEY",
    },
}
# The SDKs' own retries of the initial request (429/5xx/connection), as botocore's: at most one.
LLM_PROVIDER_MAX_RETRIES = env.int("LLM_PROVIDER_MAX_RETRIES", default=1)

# --- Streaming engine (backend.streaming) ---------------------------------------------------------

# The engines of the apps that stream (dotted paths; the sweeper and shutdown visit each).
STREAMING_ENGINES = [
    "chat.services.generation.engine",
    "prototypes.services.generation.engine",
    "adminassistant.services.generation.engine",
    "sitehelp.services.generation.engine",
]
# Every event name the streams document (OpenAPI enum names); an app adding events lists them here.
STREAM_EVENT_NAMES = [
    "message_start",
    "delta",
    "snapshot",
    "message_stop",
    "error",
    # The admin assistant's answer: a table, a chart or an error.
    "result",
    # Chat answers with retrieval and tools.
    "citations",
    "tool_call",
    "tool_confirmation",
    "tool_result",
    # A user passed USER_BUDGET_WARNING_RATIO of a monthly budget during the answer.
    "budget_warning",
]
# Event logs: Redis copy written every this many seconds; kept this long after a generation ends.
STREAM_LOG_FLUSH_SECONDS = env.float("STREAM_LOG_FLUSH_SECONDS", default=0.05)
# ... and, under load, up to this many: the interval grows with the generations a flush writes
# (one Redis command each), so the mirror's cost per token stays flat as streams are added.
STREAM_LOG_FLUSH_MAX_SECONDS = env.float("STREAM_LOG_FLUSH_MAX_SECONDS", default=0.25)
STREAM_LOG_TTL = env.int("STREAM_LOG_TTL", default=3600)
STREAM_LOCAL_RETENTION_SECONDS = env.int("STREAM_LOCAL_RETENTION_SECONDS", default=60)
STREAM_KEEPALIVE_SECONDS = env.float("STREAM_KEEPALIVE_SECONDS", default=15.0)
# Partial text is written to the database (and generations heart-beat) this often: one UPDATE for all.
STREAM_CHECKPOINT_SECONDS = env.float("STREAM_CHECKPOINT_SECONDS", default=2.0)
# A process refreshes its liveness key every second; it expires this long after the process died.
STREAM_WORKER_TTL_SECONDS = env.int("STREAM_WORKER_TTL_SECONDS", default=5)
# A generation of a dead process is ended once its heartbeat is this old (covers admission).
STREAM_ORPHAN_GRACE_SECONDS = env.int("STREAM_ORPHAN_GRACE_SECONDS", default=2)
# A generation that has not heart-beaten this long is ended even if its process looks alive (hung).
STREAM_STALE_SECONDS = env.int("STREAM_STALE_SECONDS", default=60)
# Each web process sweeps orphaned generations this often (Celery beat does too: CELERY_BEAT_SCHEDULE).
STREAM_SWEEP_SECONDS = env.float("STREAM_SWEEP_SECONDS", default=10.0)
# On shutdown, running generations may finish for this long before they end `interrupted`.
STREAM_SHUTDOWN_GRACE_SECONDS = env.float("STREAM_SHUTDOWN_GRACE_SECONDS", default=3.0)
STREAM_IDEMPOTENCY_TTL_HOURS = env.int("STREAM_IDEMPOTENCY_TTL_HOURS", default=24)
# A stream ticket (EventSource resume for token clients) opens one stream within this many seconds.
STREAM_TICKET_SECONDS = env.int("STREAM_TICKET_SECONDS", default=60)

# --- Accounts (appauth) ---------------------------------------------------------------------------
# Token policy: knox tokens (SHA-512 digest stored, never the token), prefixed with
# KNOX_TOKEN_PREFIX; each lives AUTH_TOKEN_TTL_HOURS after its last use (sliding refresh)
# but never longer than AUTH_TOKEN_MAX_LIFETIME_DAYS after login. A user holds at most
# AUTH_TOKEN_LIMIT_PER_USER live tokens: a new login evicts the least recently used one.

KNOX_TOKEN_MODEL = "appauth.AuthToken"  # noqa: S105 - a model path, not a secret
# Knox's own migrations would create its (swapped-out, unused) token table; skip them.
MIGRATION_MODULES = {"knox": None}
AUTH_TOKEN_MAX_LIFETIME_DAYS = env.int("AUTH_TOKEN_MAX_LIFETIME_DAYS", default=30)
AUTH_TOKEN_LIMIT_PER_USER = env.int("AUTH_TOKEN_LIMIT_PER_USER", default=20)
# A token's last_used_at is written at most once per this many seconds.
AUTH_TOKEN_TOUCH_INTERVAL_SECONDS = env.int("AUTH_TOKEN_TOUCH_INTERVAL_SECONDS", default=60)
# A verified token is remembered this many seconds in the cache (revocation still applies at
# once, see appauth/token_cache.py); 0 looks every token up in the database.
AUTH_TOKEN_CACHE_SECONDS = env.int("AUTH_TOKEN_CACHE_SECONDS", default=30)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("AUTH_TOKEN_TTL_HOURS", default=24 * 7)),
    "AUTO_REFRESH": True,
    "TOKEN_PREFIX": env("KNOX_TOKEN_PREFIX", default="aia_"),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_MODEL": KNOX_TOKEN_MODEL,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=AUTH_TOKEN_MAX_LIFETIME_DAYS),
    "MIN_REFRESH_INTERVAL": 60,
    # Knox's own LoginView (unused) would answer 403 at the limit; appauth evicts instead.
    "TOKEN_LIMIT_PER_USER": AUTH_TOKEN_LIMIT_PER_USER,
    "USER_SERIALIZER": None,
}

# Google sign-in: every client id whose id_tokens we accept (web, Android, iOS differ).
GOOGLE_CLIENT_IDS = env.list("GOOGLE_CLIENT_IDS", default=[])
GOOGLE_JWKS_URL = env("GOOGLE_JWKS_URL", default="https://www.googleapis.com/oauth2/v3/certs")
GOOGLE_JWKS_CACHE_SECONDS = env.int("GOOGLE_JWKS_CACHE_SECONDS", default=3600)
GOOGLE_JWKS_TIMEOUT_SECONDS = env.float("GOOGLE_JWKS_TIMEOUT_SECONDS", default=5.0)
GOOGLE_CLOCK_SKEW_SECONDS = env.int("GOOGLE_CLOCK_SKEW_SECONDS", default=30)

# Links in emails point at the single-page app: FRONTEND_URL + these paths (?uid=…&token=…).
AUTH_VERIFY_EMAIL_PATH = env("AUTH_VERIFY_EMAIL_PATH", default="/verify-email")
AUTH_PASSWORD_RESET_PATH = env("AUTH_PASSWORD_RESET_PATH", default="/reset-password")
AUTH_EMAIL_CHANGE_PATH = env("AUTH_EMAIL_CHANGE_PATH", default="/confirm-email-change")
EMAIL_VERIFICATION_TIMEOUT = env.int("EMAIL_VERIFICATION_TIMEOUT", default=3 * 24 * 3600)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

# Soft lockout per account (keyed by the normalised email, so unknown emails lock alike):
# AUTH_LOCKOUT_THRESHOLD failures within AUTH_LOCKOUT_WINDOW_SECONDS lock the account for
# AUTH_LOCKOUT_BASE_SECONDS, doubling with each further lockout within a day, capped at
# AUTH_LOCKOUT_MAX_SECONDS. Password reset and Google sign-in still work while locked.
AUTH_LOCKOUT_THRESHOLD = env.int("AUTH_LOCKOUT_THRESHOLD", default=5)
AUTH_LOCKOUT_WINDOW_SECONDS = env.int("AUTH_LOCKOUT_WINDOW_SECONDS", default=900)
AUTH_LOCKOUT_BASE_SECONDS = env.int("AUTH_LOCKOUT_BASE_SECONDS", default=60)
AUTH_LOCKOUT_MAX_SECONDS = env.int("AUTH_LOCKOUT_MAX_SECONDS", default=3600)

# Rate limits ("N/unit" or "N/Kunit", unit s|m|h|d). `*_ip` scopes are per client IP and
# answer 429 + Retry-After; `*_email` scopes are per address and drop the mail silently
# (the answer stays the same, so they reveal nothing); `*_user` scopes are per account.
AUTH_RATE_LIMITS = {
    "register_ip": env("AUTH_RATE_REGISTER_IP", default="20/h"),
    "login_ip": env("AUTH_RATE_LOGIN_IP", default="30/m"),
    "google_login_ip": env("AUTH_RATE_GOOGLE_LOGIN_IP", default="30/m"),
    "verify_email_ip": env("AUTH_RATE_VERIFY_EMAIL_IP", default="30/m"),
    "resend_verification_ip": env("AUTH_RATE_RESEND_VERIFICATION_IP", default="10/h"),
    "resend_verification_email": env("AUTH_RATE_RESEND_VERIFICATION_EMAIL", default="3/h"),
    "password_reset_ip": env("AUTH_RATE_PASSWORD_RESET_IP", default="20/h"),
    "password_reset_email": env("AUTH_RATE_PASSWORD_RESET_EMAIL", default="3/h"),
    "password_reset_confirm_ip": env("AUTH_RATE_PASSWORD_RESET_CONFIRM_IP", default="30/m"),
    "password_change_user": env("AUTH_RATE_PASSWORD_CHANGE_USER", default="5/m"),
    "account_delete_user": env("AUTH_RATE_ACCOUNT_DELETE_USER", default="5/m"),
    "email_change_user": env("AUTH_RATE_EMAIL_CHANGE_USER", default="5/h"),
    "social_ip": env("AUTH_RATE_SOCIAL_IP", default="30/m"),
    "mfa_ip": env("AUTH_RATE_MFA_IP", default="30/m"),
    "mfa_manage_user": env("AUTH_RATE_MFA_MANAGE_USER", default="10/h"),
}

# Browser sign-in with providers (social-auth-app-django): each provider is enabled only when its
# key and secret are set. The flow ends by redirecting to FRONTEND_URL + AUTH_SOCIAL_CALLBACK_PATH
# with a one-time `code` (or an `error`), which the app exchanges for a token.
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = env("SOCIAL_AUTH_GOOGLE_OAUTH2_KEY", default="")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = env("SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET", default="")
SOCIAL_AUTH_GITHUB_KEY = env("SOCIAL_AUTH_GITHUB_KEY", default="")
SOCIAL_AUTH_GITHUB_SECRET = env("SOCIAL_AUTH_GITHUB_SECRET", default="")
SOCIAL_AUTH_MICROSOFT_GRAPH_KEY = env("SOCIAL_AUTH_MICROSOFT_GRAPH_KEY", default="")
SOCIAL_AUTH_MICROSOFT_GRAPH_SECRET = env("SOCIAL_AUTH_MICROSOFT_GRAPH_SECRET", default="")
# Microsoft Graph does not say whether an address was verified: trust it only when every tenant
# you accept owns its domains (then Microsoft sign-in may link to an existing account by e-mail).
AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL = env.bool("AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL", default=False)
SOCIAL_AUTH_AUTHENTICATION_BACKENDS = [
    backend_path
    for backend_path, key in [
        ("social_core.backends.google.GoogleOAuth2", SOCIAL_AUTH_GOOGLE_OAUTH2_KEY),
        ("social_core.backends.github.GithubOAuth2", SOCIAL_AUTH_GITHUB_KEY),
        ("social_core.backends.microsoft.MicrosoftOAuth2", SOCIAL_AUTH_MICROSOFT_GRAPH_KEY),
    ]
    if key
]
SOCIAL_AUTH_STRATEGY = "appauth.social.strategy.AppStrategy"
SOCIAL_AUTH_PIPELINE = [
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "appauth.social.pipeline.sign_in",
]
SOCIAL_AUTH_GOOGLE_OAUTH2_SCOPE = ["openid", "email", "profile"]
SOCIAL_AUTH_GOOGLE_OAUTH2_USE_UNIQUE_USER_ID = True
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]  # the address list says which addresses GitHub verified
SOCIAL_AUTH_REDIRECT_IS_HTTPS = not DEBUG
AUTH_SOCIAL_CALLBACK_PATH = env("AUTH_SOCIAL_CALLBACK_PATH", default="/auth/callback")
AUTH_SOCIAL_LOGIN_CODE_SECONDS = env.int("AUTH_SOCIAL_LOGIN_CODE_SECONDS", default=60)

# Two-factor sign-in (TOTP + recovery codes). A login of an enrolled account answers with a
# challenge valid for AUTH_MFA_CHALLENGE_SECONDS; AUTH_MFA_REQUIRED_FOR_STAFF keeps staff out of
# the admin until they enrol.
AUTH_MFA_ISSUER = env("AUTH_MFA_ISSUER", default=SITE_NAME)
AUTH_MFA_CHALLENGE_SECONDS = env.int("AUTH_MFA_CHALLENGE_SECONDS", default=300)
AUTH_MFA_REQUIRED_FOR_STAFF = env.bool("AUTH_MFA_REQUIRED_FOR_STAFF", default=False)
AUTH_MFA_RECOVERY_CODES = env.int("AUTH_MFA_RECOVERY_CODES", default=10)

# Sign-up policy for password and provider sign-up alike: open | invite | domains | approval.
AUTH_SIGNUP_POLICY = env("AUTH_SIGNUP_POLICY", default="open").lower()
if AUTH_SIGNUP_POLICY not in ("open", "invite", "domains", "approval"):
    raise ImproperlyConfigured("AUTH_SIGNUP_POLICY must be open, invite, domains or approval")
AUTH_SIGNUP_ALLOWED_DOMAINS = [d.lower() for d in env.list("AUTH_SIGNUP_ALLOWED_DOMAINS", default=[])]
AUTH_INVITATION_DAYS = env.int("AUTH_INVITATION_DAYS", default=7)
AUTH_INVITATION_PATH = env("AUTH_INVITATION_PATH", default="/sign-up")

# Avatars: stored through the default storage (S3 in production), re-encoded as PNG.
AUTH_AVATAR_MAX_BYTES = env.int("AUTH_AVATAR_MAX_BYTES", default=2 * 1024 * 1024)
AUTH_AVATAR_MAX_PIXELS = env.int("AUTH_AVATAR_MAX_PIXELS", default=4096 * 4096)
AUTH_AVATAR_SIZE = env.int("AUTH_AVATAR_SIZE", default=512)

# --- Chat -----------------------------------------------------------------------------------------

CHAT_MAX_CONCURRENT_GENERATIONS = env.int("CHAT_MAX_CONCURRENT_GENERATIONS", default=3)
CHAT_MESSAGE_RATE = env("CHAT_MESSAGE_RATE", default="20/m")
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)

# On PostgreSQL the chat list and history pages are rendered by the database (off: the DRF
# serializers render them, as on other databases). History pages and the rendered history of
# the model context are cached per chat version this many seconds (0: never cached).
CHAT_SQL_PAGES = env.bool("CHAT_SQL_PAGES", default=True)
CHAT_HISTORY_CACHE_SECONDS = env.int("CHAT_HISTORY_CACHE_SECONDS", default=300)

# Attachments: uploads above CHAT_MAX_UPLOAD_BYTES are refused (413) before they are read; the
# per-model limits (LLM_MODELS) apply below that. Uploads no message claimed are purged after the TTL.
CHAT_MAX_UPLOAD_BYTES = env.int("CHAT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
CHAT_ATTACHMENT_TTL_HOURS = env.int("CHAT_ATTACHMENT_TTL_HOURS", default=24)

# Most tokens of project knowledge (marked include_in_chat) one project may send with each chat.
CHAT_KNOWLEDGE_TOKEN_BUDGET = env.int("CHAT_KNOWLEDGE_TOKEN_BUDGET", default=100_000)

# Titles and memory extraction run in Celery after an answer completes, on the `fast` alias.
CHAT_TITLE_MODEL_ALIAS = env("CHAT_TITLE_MODEL_ALIAS", default="fast")
CHAT_MEMORY_MODEL_ALIAS = env("CHAT_MEMORY_MODEL_ALIAS", default="fast")
# Queue of these model-calling tasks (run a dedicated worker with `-Q` to isolate them).
CHAT_BACKGROUND_QUEUE = env("CHAT_BACKGROUND_QUEUE", default="celery")
# Tokens of the memory block in the system prompt, and the confidence below which a fact is not kept.
CHAT_MEMORY_CONTEXT_TOKENS = env.int("CHAT_MEMORY_CONTEXT_TOKENS", default=600)
CHAT_MEMORY_MIN_CONFIDENCE = env.float("CHAT_MEMORY_MIN_CONFIDENCE", default=0.5)
# Per-turn extraction claims (which make redeliveries no-ops) are purged after this many days.
CHAT_MEMORY_EXTRACTION_RETENTION_DAYS = env.int("CHAT_MEMORY_EXTRACTION_RETENTION_DAYS", default=30)
# Retries of a throttled/unavailable model call: backoff doubles from the base, capped, with jitter.
# Keep the cap below CELERY_VISIBILITY_TIMEOUT: Redis would hand a waiting retry to a second worker.
CHAT_TASK_MAX_RETRIES = env.int("CHAT_TASK_MAX_RETRIES", default=5)
CHAT_TASK_RETRY_BACKOFF_SECONDS = env.float("CHAT_TASK_RETRY_BACKOFF_SECONDS", default=15.0)
CHAT_TASK_RETRY_BACKOFF_MAX_SECONDS = env.float("CHAT_TASK_RETRY_BACKOFF_MAX_SECONDS", default=600.0)

# --- Prototypes -----------------------------------------------------------------------------------
# Previews are served from PROTOTYPE_PREVIEW_BASE_URL (a separate registrable domain in
# production, e.g. https://proto-usercontent.example; empty = the app's own host) through
# signed URLs valid for PROTOTYPE_PREVIEW_MAX_AGE seconds, scoped to one version. Only the
# origins in PROTOTYPE_PREVIEW_FRAME_ANCESTORS (default: FRONTEND_URL) may frame them.

PROTOTYPE_PREVIEW_BASE_URL = env("PROTOTYPE_PREVIEW_BASE_URL", default="").rstrip("/")
PROTOTYPE_PREVIEW_MAX_AGE = env.int("PROTOTYPE_PREVIEW_MAX_AGE", default=300)
PROTOTYPE_PREVIEW_FRAME_ANCESTORS = env.list("PROTOTYPE_PREVIEW_FRAME_ANCESTORS", default=[FRONTEND_URL])
# Most output tokens of one prototype generation (0 = the model's maximum output).
PROTOTYPE_MAX_TOKENS = env.int("PROTOTYPE_MAX_TOKENS", default=0)
# Generations one user may run at once (more → 429).
PROTOTYPE_MAX_CONCURRENT_GENERATIONS = env.int("PROTOTYPE_MAX_CONCURRENT_GENERATIONS", default=3)

# --- Hardening (docs/security.md) -----------------------------------------------------------------
# Limits applied before a request body is read, on top of DATA_UPLOAD_MAX_MEMORY_SIZE: the ASGI
# guard (backend.asgi_limits) answers 413 as soon as a declared or streamed body passes the
# ceiling of its route, 431 for oversized headers. Upload routes get the larger ceiling. The
# reverse proxy of docker-compose.yml (deploy/nginx.conf) applies the same numbers.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)
UPLOAD_BODY_MAX_BYTES = env.int("UPLOAD_BODY_MAX_BYTES", default=CHAT_MAX_UPLOAD_BYTES + 1024 * 1024)
# Sending a message may carry files (multipart `files`), so it takes the upload ceiling too.
UPLOAD_PATH_PREFIXES = [
    "/api/v1/chat/attachments/",
    "/api/v1/chat/validate-file/",
    "/api/v1/chat/messages/",
    "/api/v1/auth/profile/",
    "/api/v1/chat/import/",
]
REQUEST_HEADERS_MAX_BYTES = env.int("REQUEST_HEADERS_MAX_BYTES", default=16 * 1024)
# Images: the header is read first and an image above this many pixels is refused before any
# pixel is decoded (JPEG is decoded at a reduced scale, so it may be larger: see backend.files).
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=25_000_000)
IMAGE_MAX_PIXELS_JPEG = env.int("IMAGE_MAX_PIXELS_JPEG", default=80_000_000)
# Uploads (attachments, file checks, avatars) per account.
UPLOAD_RATE_USER = env("UPLOAD_RATE_USER", default="60/h")

# --- Admin assistant (adminassistant): staff ask data questions inside the Django admin -----------
# Its database alias is under "Database", its model alias (`admin-assistant`) under "LLM", its
# engine and `result` event under "Streaming engine".

# Limits: statement timeout (ms, and the watchdog's), rows of a result, characters of a field,
# characters of a snippet, questions per user (rate "N/unit").
ADMIN_ASSISTANT_STATEMENT_TIMEOUT_MS = env.int("ADMIN_ASSISTANT_STATEMENT_TIMEOUT_MS", default=5000)
ADMIN_ASSISTANT_MAX_ROWS = env.int("ADMIN_ASSISTANT_MAX_ROWS", default=100)
ADMIN_ASSISTANT_MAX_FIELD_CHARS = env.int("ADMIN_ASSISTANT_MAX_FIELD_CHARS", default=200)
ADMIN_ASSISTANT_MAX_CODE_CHARS = env.int("ADMIN_ASSISTANT_MAX_CODE_CHARS", default=4000)
ADMIN_ASSISTANT_MAX_QUESTION_CHARS = env.int("ADMIN_ASSISTANT_MAX_QUESTION_CHARS", default=2000)
ADMIN_ASSISTANT_QUESTION_RATE = env("ADMIN_ASSISTANT_QUESTION_RATE", default="20/m")
ADMIN_ASSISTANT_MAX_CONCURRENT = env.int("ADMIN_ASSISTANT_MAX_CONCURRENT", default=2)
# Earlier questions (and their code) of a chat sent with a new question.
ADMIN_ASSISTANT_HISTORY_TURNS = env.int("ADMIN_ASSISTANT_HISTORY_TURNS", default=6)
# Models ("app_label.Model") and fields ("app_label.Model.field") never shown to the assistant.
ADMIN_ASSISTANT_EXCLUDE = env.list("ADMIN_ASSISTANT_EXCLUDE", default=[])
# The model alias used when the AI settings name none, and the (fast) alias that titles chats.
ADMIN_ASSISTANT_MODEL_ALIAS = env("ADMIN_ASSISTANT_MODEL_ALIAS", default="admin-assistant")
ADMIN_ASSISTANT_TITLE_ALIAS = env("ADMIN_ASSISTANT_TITLE_ALIAS", default="fast")

# --- Site help (sitehelp): the ask-AI page and the anonymous help widget --------------------------
# Answers come from the `help` alias: the `fast` chain unless LLM_CONFIG_FILE defines `help` (or lacks
# `fast`: then the default alias's chain). Its purge task is in CELERY_BEAT_SCHEDULE, its session
# header in CORS_ALLOW_HEADERS, its languages in LANGUAGES.

# Most output tokens of one answer, and seconds one answer may take before it ends with `timeout`.
HELP_MAX_TOKENS = env.int("HELP_MAX_TOKENS", default=300)
HELP_TIMEOUT_SECONDS = env.float("HELP_TIMEOUT_SECONDS", default=20.0)
# Most characters of one question; earlier turns of a widget session sent along as context.
HELP_MAX_QUESTION_CHARS = env.int("HELP_MAX_QUESTION_CHARS", default=1000)
HELP_HISTORY_TURNS = env.int("HELP_HISTORY_TURNS", default=6)
# Excerpts of the site's indexed docs (`manage.py index_docs`) an answer is grounded in.
HELP_GROUNDING_EXCERPTS = env.int("HELP_GROUNDING_EXCERPTS", default=4)
# Origins (scheme://host[:port]) whose pages may embed the widget; the app's own origin always may.
HELP_WIDGET_ALLOWED_ORIGINS = env.list("HELP_WIDGET_ALLOWED_ORIGINS", default=[])
# A widget session expires after this many seconds without a message (401 session_expired);
# its token is refused after HELP_SESSION_MAX_AGE_SECONDS in any case.
HELP_SESSION_IDLE_SECONDS = env.int("HELP_SESSION_IDLE_SECONDS", default=1800)
HELP_SESSION_MAX_AGE_SECONDS = env.int("HELP_SESSION_MAX_AGE_SECONDS", default=24 * 3600)
# Rate limits ("N/unit"): new sessions per IP, messages per session and per IP, ask-page questions
# per IP and per browser session (429 with Retry-After).
HELP_RATE_SESSION_IP = env("HELP_RATE_SESSION_IP", default="20/h")
HELP_RATE_MESSAGE_SESSION = env("HELP_RATE_MESSAGE_SESSION", default="10/m")
HELP_RATE_MESSAGE_IP = env("HELP_RATE_MESSAGE_IP", default="30/m")
HELP_RATE_ASK_IP = env("HELP_RATE_ASK_IP", default="10/m")
HELP_RATE_ASK_SESSION = env("HELP_RATE_ASK_SESSION", default="5/m")
# Tokens (input + output) one widget session may use, and USD all help answers may cost per UTC day;
# beyond either, visitors are told help is unavailable (503).
HELP_SESSION_TOKEN_BUDGET = env.int("HELP_SESSION_TOKEN_BUDGET", default=20_000)
HELP_DAILY_COST_CAP_USD = env.float("HELP_DAILY_COST_CAP_USD", default=5.0)
# Feedback on answers (off -> the feedback endpoint answers 404 and the widget shows no buttons).
HELP_FEEDBACK_ENABLED = env.bool("HELP_FEEDBACK_ENABLED", default=True)
# The privacy notice linked from the widget's header and the ask page.
HELP_PRIVACY_URL = env("HELP_PRIVACY_URL", default="/privacy/")
# Conversations and feedback are deleted this many days after they started (daily beat task).
HELP_RETENTION_DAYS = env.int("HELP_RETENTION_DAYS", default=183)
HELP_PURGE_BATCH_SIZE = env.int("HELP_PURGE_BATCH_SIZE", default=500)
# Only staff in the `translators` group (or superusers) edit translations in /rosetta/.
ROSETTA_REQUIRES_AUTH = True
ROSETTA_MESSAGES_SOURCE_LANGUAGE_CODE = "en"
ROSETTA_SHOW_AT_ADMIN_PANEL = True
ROSETTA_WSGI_AUTO_RELOAD = False

# --- Retrieval and tools: knowledge searched by meaning, cited answers, tools with confirmation ---
# The sentence embedder (backend/embeddings.py): `local-minilm` (offline, int8 ONNX, no PyTorch),
# `bedrock-titan-v2`, or a dotted path. Changing it re-embeds documents as they are re-indexed.
EMBEDDINGS_BACKEND = env("EMBEDDINGS_BACKEND", default="local-minilm")
# onnxruntime threads per process for the local embedder (0 = one per core).
EMBEDDINGS_THREADS = env.int("EMBEDDINGS_THREADS", default=0)
# Chunks: at most this many tokens of the embedder's tokenizer, consecutive chunks sharing the overlap.
RETRIEVAL_CHUNK_TOKENS = env.int("RETRIEVAL_CHUNK_TOKENS", default=200)
RETRIEVAL_CHUNK_OVERLAP_TOKENS = env.int("RETRIEVAL_CHUNK_OVERLAP_TOKENS", default=30)
# Hybrid search: candidates taken from each ranking, and the k of reciprocal rank fusion.
RETRIEVAL_CANDIDATES = env.int("RETRIEVAL_CANDIDATES", default=50)
RETRIEVAL_RRF_K = env.int("RETRIEVAL_RRF_K", default=60)
# Collections whose vector matrix one process keeps in memory (least recently used dropped).
RETRIEVAL_CACHED_COLLECTIONS = env.int("RETRIEVAL_CACHED_COLLECTIONS", default=64)
# A project's included knowledge beyond CHAT_KNOWLEDGE_TOKEN_BUDGET: `retrieve` (the chunks found for
# each question are sent instead of the whole) or `refuse` (writes over the budget are refused).
CHAT_KNOWLEDGE_OVER_BUDGET = env("CHAT_KNOWLEDGE_OVER_BUDGET", default="retrieve")
# Chunks sent with a question in retrieval mode.
RETRIEVAL_CHAT_TOP_K = env.int("RETRIEVAL_CHAT_TOP_K", default=6)
# Queue of the indexing tasks.
RETRIEVAL_QUEUE = env("RETRIEVAL_QUEUE", default="celery")
# Tools in chat answers: on by default (each chat and project can switch them off).
TOOLS_ENABLED = env.bool("TOOLS_ENABLED", default=True)
# Modules whose import registers tools (tools.registry.register).
TOOLS_MODULES = ["chat.tools", "tools.builtin_prototypes"]
# Bounds of one answer's tool loop: model calls, and input+output tokens over all of them.
TOOLS_MAX_STEPS = env.int("TOOLS_MAX_STEPS", default=6)
TOOLS_MAX_TOKENS = env.int("TOOLS_MAX_TOKENS", default=200_000)
# A destructive call waits this long for the user's confirmation; then it counts as rejected.
TOOLS_CONFIRM_TIMEOUT_SECONDS = env.float("TOOLS_CONFIRM_TIMEOUT_SECONDS", default=120.0)
# A Django permission a tool additionally requires, by tool name, as JSON:
# e.g. {"delete_knowledge": "chat.delete_projectknowledge"}.
TOOLS_REQUIRED_PERMISSIONS: dict[str, str] = env.json("TOOLS_REQUIRED_PERMISSIONS", default={})

# --- Budgets, shared chats, chat import -----------------------------------------------------------
# Monthly model usage per user (calendar month, UTC; tokens = input + output + cache): 0 = unlimited.
# Per-user overrides in the admin (LLM > User budgets). Checked before every model call (402 budget_exhausted).
USER_MONTHLY_TOKEN_BUDGET = env.int("USER_MONTHLY_TOKEN_BUDGET", default=0)
USER_MONTHLY_COST_BUDGET_USD = env.float("USER_MONTHLY_COST_BUDGET_USD", default=0.0)
# Share of a limit after which an answer ends with a `budget_warning` event (and the usage endpoint warns).
USER_BUDGET_WARNING_RATIO = env.float("USER_BUDGET_WARNING_RATIO", default=0.8)
# Seconds a user's limits and month-to-date spend stay cached (the spend is bumped on every ledger row).
USER_BUDGET_CACHE_SECONDS = env.int("USER_BUDGET_CACHE_SECONDS", default=600)
# Shared chats: a share link expires after this many days unless the owner picks otherwise (0 = never);
# shared attachments are served through signed URLs valid this many seconds.
CHAT_SHARE_DEFAULT_EXPIRY_DAYS = env.int("CHAT_SHARE_DEFAULT_EXPIRY_DAYS", default=0)
CHAT_SHARE_ATTACHMENT_URL_SECONDS = env.int("CHAT_SHARE_ATTACHMENT_URL_SECONDS", default=3600)
# Reads of shared chats (JSON, page, files) per client IP ("N/unit"; beyond: 429 with Retry-After).
CHAT_SHARE_RATE_IP = env("CHAT_SHARE_RATE_IP", default="120/m")
# Import over the API (POST /api/v1/chat/import/): largest export file, chats per file, turns per file.
CHAT_IMPORT_MAX_BYTES = env.int("CHAT_IMPORT_MAX_BYTES", default=CHAT_MAX_UPLOAD_BYTES)
CHAT_IMPORT_MAX_CHATS = env.int("CHAT_IMPORT_MAX_CHATS", default=100)
CHAT_IMPORT_MAX_PAIRS = env.int("CHAT_IMPORT_MAX_PAIRS", default=5000)
# The import takes the upload ceiling (UPLOAD_PATH_PREFIXES): raise UPLOAD_BODY_MAX_BYTES with CHAT_IMPORT_MAX_BYTES.

# --- OpenAPI schema (drf-spectacular) -------------------------------------------------------------


def _stream_event_enum(name: str) -> str:
    """`message_start` -> `StreamEventMessageStartEnum`: each event name is a one-value enum."""
    return f"StreamEvent{''.join(part.title() for part in name.split('_'))}Enum"


SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": "REST and Server-Sent Events API of the AI assistant (Claude on Amazon Bedrock).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The error responses every operation can give, and the error shape.
        "backend.api.schema.document_common_errors",
        # The multipart `files` of sending a message (an async view the generator cannot introspect).
        "chat.schema.message_files_hook",
    ],
    # One name per choice set: every event name of the streams (backend.streaming.schema) and the
    # statuses that share values across apps.
    "ENUM_NAME_OVERRIDES": {
        **{_stream_event_enum(name): [(name, name)] for name in STREAM_EVENT_NAMES},
        "ChatMessageStatusEnum": "chat.models.Message.Status",
        "KnowledgeModeEnum": "chat.models.Message.KnowledgeMode",
        "PrototypeVersionStatusEnum": "prototypes.models.PrototypeVersion.Status",
        "PrototypeVersionEditModeEnum": "prototypes.models.PrototypeVersion.EditMode",
        "AdminAssistantMessageStatusEnum": "adminassistant.models.Message.Status",
        "AssistantChartTypeEnum": "adminassistant.serializers.CHART_TYPES",
    },
}
