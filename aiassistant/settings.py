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

# --- Core -------------------------------------------------------------------

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
# Links in e-mails point at the front end. With DEBUG on and no front end configured they open
# this server's development pages (backend.core.devpages), so they work with `make run` alone.
FRONTEND_URL = env(
    "FRONTEND_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}" if DEBUG else "http://localhost:3000"
).rstrip("/")
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="support@localhost")

INSTALLED_APPS = [
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
            ],
        },
    },
]

AUTH_USER_MODEL = "appauth.AppUser"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Database -----------------------------------------------------------------
# DATABASE_URL unset -> a SQLite file next to manage.py (the embedded default).

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Name of the throwaway database the test runner creates (default: "test_" + NAME).
if env("DATABASE_TEST_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env("DATABASE_TEST_NAME")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOL", default=False):
        # Django's psycopg pool; persistent connections must then be off.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)

# Threads (each with its own connection) that run the database work of async code, such as
# streamed answers; bounds the connections used whatever the number of open streams.
DB_THREADS = env.int("DB_THREADS", default=8)

# --- Cache, rate-limit counters, stream log ----------------------------------------

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "backend.redis_cache.SharedPoolRedisCache",  # one connection pool per process
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="aia"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------
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
# Redis redelivers an unacknowledged task only after this many seconds (default 1 h).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}

# --- Files (uploads, avatars, attachments) ------------------------------------------
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
if AWS_STORAGE_BUCKET_NAME:
    _default_storage: dict[str, Any] = {
        # S3Storage that stores and serves user files as downloads of a fixed type (docs/security.md).
        "BACKEND": "backend.storage.MediaS3Storage",
        "OPTIONS": {"location": env("AWS_S3_MEDIA_PREFIX", default="media")},
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Static files (WhiteNoise) -------------------------------------------------------------
# The app serves its own static files (admin, Swagger UI) through WhiteNoise
# (backend.middleware.StaticFilesMiddleware). With DEBUG off they come from STATIC_ROOT, filled
# by `manage.py collectstatic`: content-hashed names cached for a year, with gzip copies.
# With DEBUG on they are found in the apps' static/ folders on each request, no collectstatic.
if not DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}

# Request bodies: JSON bodies are small; uploads go to disk above 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Email ---------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default=f"{SITE_NAME} <noreply@localhost>")
EMAIL_TIMEOUT = 10

# --- Auth & passwords -------------------------------------------------------------------

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

# --- REST API ------------------------------------------------------------------------------

_renderers = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    _renderers.append("rest_framework.renderers.BrowsableAPIRenderer")
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _renderers,
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.api.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "backend.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

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
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("AUTH_TOKEN_TTL_HOURS", default=24 * 7)),
    "AUTO_REFRESH": True,
    "TOKEN_PREFIX": env("KNOX_TOKEN_PREFIX", default="aia_"),
    "AUTH_HEADER_PREFIX": "Token",
}

# --- CORS / CSRF for single-page apps -------------------------------------------------------

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
]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Production safety (DEBUG off) -----------------------------------------------------------

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

# --- Logging ---------------------------------------------------------------------------------

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
    },
}

# --- LLM (Amazon Bedrock) ------------------------------------------------------------------------
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
EMULATOR_PORT = env.int("EMULATOR_PORT", default=8765)
PORT = env.int("PORT", default=8000)
# Async callables run when the ASGI server starts and stops (backend.lifespan).
ASGI_STARTUP_HOOKS = ["backend.streaming.engine.startup"]
ASGI_SHUTDOWN_HOOKS = [
    "backend.streaming.engine.shutdown",
    "backend.db.aclose_connections",
    # Close the providers' async (aiohttp/httpx) clients, so Ctrl-C prints no "Unclosed client session".
    "backend.llm.service.aclose_clients",
]

LLM_CONNECT_TIMEOUT = env.float("LLM_CONNECT_TIMEOUT", default=5.0)
# For streams this bounds the gap between two events, not the whole answer.
LLM_STREAM_READ_TIMEOUT = env.float("LLM_STREAM_READ_TIMEOUT", default=90.0)
# A non-streaming call must receive its whole answer within this.
LLM_READ_TIMEOUT = env.float("LLM_READ_TIMEOUT", default=300.0)
LLM_MAX_POOL_CONNECTIONS = env.int("LLM_MAX_POOL_CONNECTIONS", default=1000)
LLM_THROTTLE_COOLDOWN_SECONDS = env.float("LLM_THROTTLE_COOLDOWN_SECONDS", default=20.0)
LLM_UNAVAILABLE_COOLDOWN_SECONDS = env.float("LLM_UNAVAILABLE_COOLDOWN_SECONDS", default=10.0)


def _claude(
    model_id: str,
    *,
    context_window: int,
    max_output: int,
    prices: tuple[float, float, float, float],
    min_cache_tokens: int,
    count_tokens_id: str | None = None,
) -> dict[str, Any]:
    """One registry entry; prices are USD per million tokens: input, output, cache read, cache write."""
    return {
        "id": model_id,
        "context_window": context_window,
        "max_output_tokens": max_output,
        "max_images": 20,
        "max_image_bytes": 3_750_000,
        "max_image_pixels": 8000,
        "max_documents": 5,
        "max_document_bytes": 4_500_000,
        "min_cache_tokens": min_cache_tokens,
        "price_input": prices[0],
        "price_output": prices[1],
        "price_cache_read": prices[2],
        "price_cache_write": prices[3],
        # CountTokens refuses inference-profile ids: it takes the bare foundation model id.
        "count_tokens_id": count_tokens_id or model_id.split(".", 1)[1],
    }


_DEFAULT_LLM_MODELS = [
    _claude(
        "us.anthropic.claude-sonnet-4-6",
        context_window=200_000,
        max_output=64_000,
        prices=(3.0, 15.0, 0.30, 3.75),
        min_cache_tokens=1024,
    ),
    _claude(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        context_window=200_000,
        max_output=64_000,
        prices=(3.0, 15.0, 0.30, 3.75),
        min_cache_tokens=1024,
    ),
    _claude(
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        context_window=200_000,
        max_output=64_000,
        prices=(1.0, 5.0, 0.10, 1.25),
        min_cache_tokens=4096,
    ),
    _claude(
        "us.anthropic.claude-opus-4-6-v1",
        context_window=200_000,
        max_output=32_000,
        prices=(5.0, 25.0, 0.50, 6.25),
        min_cache_tokens=4096,
    ),
]
_DEFAULT_LLM_ALIASES = {
    "chat-default": {
        "label": "Claude Sonnet",
        "chain": ["us.anthropic.claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
        "selectable": True,
    },
    "chat-smart": {
        "label": "Claude Opus",
        "chain": ["us.anthropic.claude-opus-4-6-v1", "us.anthropic.claude-sonnet-4-6"],
        "selectable": True,
    },
    "fast": {
        "label": "Claude Haiku",
        "chain": ["us.anthropic.claude-haiku-4-5-20251001-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
        "selectable": True,
    },
    "prototype": {
        "label": "Prototype generator",
        "chain": ["us.anthropic.claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
        "selectable": False,
    },
}

# LLM_CONFIG_FILE: a JSON file {"models": [...], "aliases": {...}} replacing the defaults above.
_llm_config_file = env("LLM_CONFIG_FILE", default="")
if _llm_config_file:
    _llm_config = json.loads(Path(_llm_config_file).read_text())
    LLM_MODELS: list[dict[str, Any]] = _llm_config["models"]
    LLM_ALIASES: dict[str, dict[str, Any]] = _llm_config["aliases"]
else:
    LLM_MODELS = _DEFAULT_LLM_MODELS
    LLM_ALIASES = _DEFAULT_LLM_ALIASES
LLM_DEFAULT_ALIAS = env("LLM_DEFAULT_ALIAS", default="chat-default")

# --- LLM providers besides Bedrock: the Anthropic API and OpenAI-compatible servers ---------------
# A registry entry with "provider": "anthropic" or "openai" is called through that provider's
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
# The Anthropic API's Claude models, priced per million tokens, for chains that use them.
if not _llm_config_file:
    LLM_MODELS = [
        *LLM_MODELS,
        *(
            {
                **_claude(
                    model_id,
                    context_window=200_000,
                    max_output=64_000,
                    prices=prices,
                    min_cache_tokens=min_cache_tokens,
                    count_tokens_id=model_id,
                ),
                "provider": "anthropic",
            }
            for model_id, prices, min_cache_tokens in (
                ("claude-sonnet-4-6", (3.0, 15.0, 0.30, 3.75), 1024),
                ("claude-haiku-4-5", (1.0, 5.0, 0.10, 1.25), 4096),
            )
        ),
    ]
# The SDKs and their HTTP stack log request details at DEBUG; keep them at WARNING.
_sdk_loggers: dict[str, Any] = LOGGING["loggers"]  # type: ignore[assignment]
_sdk_loggers.update({name: {"level": "WARNING"} for name in ("anthropic", "openai", "httpx2", "httpcore2")})

# --- Streaming engine (backend.streaming) -------------------------------------------------------

# The engines of the apps that stream (dotted paths; the sweeper and shutdown visit each).
STREAMING_ENGINES = ["chat.services.generation.engine", "prototypes.services.generation.engine"]
# Event logs: Redis copy written every this many seconds; kept this long after a generation ends.
STREAM_LOG_FLUSH_SECONDS = env.float("STREAM_LOG_FLUSH_SECONDS", default=0.05)
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
# Each web process sweeps orphaned generations this often (Celery beat does too, when it runs).
STREAM_SWEEP_SECONDS = env.float("STREAM_SWEEP_SECONDS", default=10.0)
# On shutdown, running generations may finish for this long before they end `interrupted`.
STREAM_SHUTDOWN_GRACE_SECONDS = env.float("STREAM_SHUTDOWN_GRACE_SECONDS", default=3.0)
STREAM_IDEMPOTENCY_TTL_HOURS = env.int("STREAM_IDEMPOTENCY_TTL_HOURS", default=24)
# A stream ticket (EventSource resume for token clients) opens one stream within this many seconds.
STREAM_TICKET_SECONDS = env.int("STREAM_TICKET_SECONDS", default=60)
# Every event name the streams document (OpenAPI enum names); an app adding events lists them here.
STREAM_EVENT_NAMES = ["message_start", "delta", "snapshot", "message_stop", "error"]
CELERY_BEAT_SCHEDULE["streaming-sweep-generations"] = {
    "task": "backend.streaming.tasks.sweep_generations",
    "schedule": env.float("STREAM_BEAT_SWEEP_SECONDS", default=30.0),
}
CELERY_BEAT_SCHEDULE["streaming-purge-idempotency-keys"] = {
    "task": "backend.streaming.tasks.purge_idempotency_keys",
    "schedule": 3600.0,
}

# --- Chat: messages -----------------------------------------------------------------------------------

CHAT_MAX_CONCURRENT_GENERATIONS = env.int("CHAT_MAX_CONCURRENT_GENERATIONS", default=3)
CHAT_MESSAGE_RATE = env("CHAT_MESSAGE_RATE", default="20/m")
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)
CELERY_BEAT_SCHEDULE["chat-purge-unclaimed-attachments"] = {
    "task": "chat.tasks.purge_unclaimed_attachments",
    "schedule": 3600.0,
}

# --- Accounts (appauth) --------------------------------------------------------------------------
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
REST_KNOX.update(
    {
        "TOKEN_MODEL": KNOX_TOKEN_MODEL,
        "AUTO_REFRESH_MAX_TTL": timedelta(days=AUTH_TOKEN_MAX_LIFETIME_DAYS),
        "MIN_REFRESH_INTERVAL": 60,
        # Knox's own LoginView (unused) would answer 403 at the limit; appauth evicts instead.
        "TOKEN_LIMIT_PER_USER": AUTH_TOKEN_LIMIT_PER_USER,
        "USER_SERIALIZER": None,
    }
)
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "appauth.authentication.TokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]

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
}

# Avatars: stored through the default storage (S3 in production), re-encoded as PNG.
AUTH_AVATAR_MAX_BYTES = env.int("AUTH_AVATAR_MAX_BYTES", default=2 * 1024 * 1024)
AUTH_AVATAR_MAX_PIXELS = env.int("AUTH_AVATAR_MAX_PIXELS", default=4096 * 4096)
AUTH_AVATAR_SIZE = env.int("AUTH_AVATAR_SIZE", default=512)

# --- Chat attachments ---
# Uploads above CHAT_MAX_UPLOAD_BYTES are refused (413) before they are read; the per-model
# limits (LLM_MODELS) apply below that. Uploads no message claimed are purged after the TTL.
CHAT_MAX_UPLOAD_BYTES = env.int("CHAT_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
CHAT_ATTACHMENT_TTL_HOURS = env.int("CHAT_ATTACHMENT_TTL_HOURS", default=24)

# --- Chat (REST) ---
# Most tokens of project knowledge (marked include_in_chat) one project may send with each chat.
CHAT_KNOWLEDGE_TOKEN_BUDGET = env.int("CHAT_KNOWLEDGE_TOKEN_BUDGET", default=100_000)

# --- Chat memory and titles ---
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
# Redis hands out a task lost with its worker again only when a worker sweeps for unacknowledged
# tasks older than the visibility timeout; kombu's default sweep runs every ~100 s, this makes it explicit.
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] = env.int("CELERY_UNACKED_RESTORE_SECONDS", default=30)
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
CELERY_BEAT_SCHEDULE["chat-purge-memory-extractions"] = {
    "task": "chat.tasks.purge_memory_extractions",
    "schedule": 24 * 3600.0,
}

# --- Prototypes ---
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
_enum_name_overrides: Any = SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES") or {}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **_enum_name_overrides,
    "PrototypeVersionStatusEnum": "prototypes.models.PrototypeVersion.Status",
    "PrototypeVersionEditModeEnum": "prototypes.models.PrototypeVersion.EditMode",
    # Each event name of the event streams (backend.streaming.schema) is a one-value enum.
    **{
        f"StreamEvent{''.join(part.title() for part in name.split('_'))}Enum": [(name, name)]
        for name in STREAM_EVENT_NAMES
    },
}

# --- Hardening (docs/security.md) --------------------------------------------------------------
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
]
REQUEST_HEADERS_MAX_BYTES = env.int("REQUEST_HEADERS_MAX_BYTES", default=16 * 1024)
# Images: the header is read first and an image above this many pixels is refused before any
# pixel is decoded (JPEG is decoded at a reduced scale, so it may be larger: see backend.files).
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=25_000_000)
IMAGE_MAX_PIXELS_JPEG = env.int("IMAGE_MAX_PIXELS_JPEG", default=80_000_000)
# Uploads (attachments, file checks, avatars) per account.
UPLOAD_RATE_USER = env("UPLOAD_RATE_USER", default="60/h")

# JSON only, nesting-limited; form and multipart are accepted only by the views that take files.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["backend.api.parsers.JSONParser"]
REST_FRAMEWORK["DEFAULT_METADATA_CLASS"] = "backend.api.metadata.RouteMetadata"
REST_FRAMEWORK["TEST_REQUEST_DEFAULT_FORMAT"] = "json"

# The console transport prints reset links to the log: with DEBUG off it refuses (backend.email).
if not DEBUG and EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    EMAIL_BACKEND = "backend.email.ConsoleRefusedBackend"
# The error responses every operation can give, and the error shape, in the OpenAPI schema.
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "backend.api.schema.document_common_errors",
    # The multipart `files` of sending a message (an async view the generator cannot introspect).
    "chat.schema.message_files_hook",
]

# --- Admin assistant (adminassistant): staff ask data questions inside the Django admin ---
# The database alias the generated queries run on. ADMIN_ASSISTANT_DATABASE_URL should connect as
# the restricted role that `manage.py adminassistant_role` creates (SELECT on allowed columns only);
# unset, the alias reuses the default database's credentials (read-only transactions only), and on
# the embedded SQLite default the file is opened read-only.
ADMIN_ASSISTANT_DATABASE_ALIAS = "adminassistant"
_admin_assistant_url = env("ADMIN_ASSISTANT_DATABASE_URL", default="")
if _admin_assistant_url:
    DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS] = env.db_url_config(_admin_assistant_url)
else:
    DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS] = {
        **DATABASES["default"],
        "OPTIONS": {k: v for k, v in DATABASES["default"].get("OPTIONS", {}).items() if k != "pool"},
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS]["NAME"] = f"file:{DATABASES['default']['NAME']}?mode=ro"
        DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS]["OPTIONS"] = {"uri": True}
DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS]["CONN_MAX_AGE"] = 0
# Tests read the default test database through this alias (its own connection, its own role).
DATABASES[ADMIN_ASSISTANT_DATABASE_ALIAS]["TEST"] = {"MIRROR": "default"}
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
LLM_ALIASES.setdefault(
    "admin-assistant",
    {
        "label": "Admin data assistant",
        "chain": list(LLM_ALIASES.get("chat-default", next(iter(LLM_ALIASES.values())))["chain"]),
        "selectable": False,
    },
)
STREAMING_ENGINES.append("adminassistant.services.generation.engine")
STREAM_EVENT_NAMES.append("result")
_assistant_enums: Any = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **_assistant_enums,
    "StreamEventResultEnum": [("result", "result")],
    "AssistantChartTypeEnum": "adminassistant.serializers.CHART_TYPES",
}
# The admin base template (adminassistant/templates/admin/base_site.html) overrides the admin's
# own: the app is listed before django.contrib.admin; its drawer's strings come from this processor.
INSTALLED_APPS.insert(INSTALLED_APPS.index("django.contrib.admin"), "adminassistant")
_template_options: Any = TEMPLATES[0]["OPTIONS"]
_template_options["context_processors"].append("adminassistant.context_processors.strings")

# --- Sitehelp: the ask-AI page and the anonymous help widget ---
# Answers come from the `help` alias: the `fast` chain unless LLM_CONFIG_FILE defines `help` (or lacks `fast`:
# then the default alias's chain).
_help_base = LLM_ALIASES.get("fast") or LLM_ALIASES.get(LLM_DEFAULT_ALIAS) or next(iter(LLM_ALIASES.values()))
LLM_ALIASES.setdefault("help", {"label": "Site help", "chain": list(_help_base["chain"]), "selectable": False})
STREAMING_ENGINES.append("sitehelp.services.generation.engine")
# Languages of the page and the widget (Django i18n; catalogues in sitehelp/locale, editable in /rosetta/).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
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
CELERY_BEAT_SCHEDULE["sitehelp-purge-expired"] = {"task": "sitehelp.tasks.purge_expired", "schedule": 24 * 3600.0}
# The widget sends its session token in this header (allowed in CORS preflights).
CORS_ALLOW_HEADERS.append("x-help-session")
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
STREAM_EVENT_NAMES += ["citations", "tool_call", "tool_confirmation", "tool_result"]
_enum_name_overrides = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **_enum_name_overrides,
    "KnowledgeModeEnum": "chat.models.Message.KnowledgeMode",
    **{
        f"StreamEvent{''.join(part.title() for part in name.split('_'))}Enum": [(name, name)]
        for name in ("citations", "tool_call", "tool_confirmation", "tool_result")
    },
}

# --- OpenAPI enum names (after every app's block) -------------------------------------------------
# One name per choice set: every event name of the streams (apps append theirs to STREAM_EVENT_NAMES)
# and the statuses that share values across apps.
_enum_names_so_far: Any = SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **_enum_names_so_far,
    **{
        f"StreamEvent{''.join(part.title() for part in name.split('_'))}Enum": [(name, name)]
        for name in STREAM_EVENT_NAMES
    },
    "ChatMessageStatusEnum": "chat.models.Message.Status",
    "AdminAssistantMessageStatusEnum": "adminassistant.models.Message.Status",
}
