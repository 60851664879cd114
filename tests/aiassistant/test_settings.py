"""The settings switches, each checked in a fresh process with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]


def run_with_env(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` after django.setup() in a new interpreter whose environment is only `env`."""
    environment = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "aiassistant.settings", **env}
    script = "import django, json\ndjango.setup()\nfrom django.conf import settings\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True, text=True, timeout=60
    )


def settings_json(code: str, **env: str) -> dict:
    result = run_with_env(code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_defaults_need_no_configuration():
    values = settings_json(
        """
        from django.core.files.storage import storages
        print(json.dumps({
            "db": settings.DATABASES["default"]["ENGINE"],
            "cache": settings.CACHES["default"]["BACKEND"],
            "eager": settings.CELERY_TASK_ALWAYS_EAGER,
            "storage": type(storages["default"]).__name__,
            "email": settings.EMAIL_BACKEND,
            "bedrock": settings.BEDROCK_ENDPOINT_URL,
        }))
        """,
        DEBUG="1",
    )

    assert values == {
        "db": "django.db.backends.sqlite3",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "eager": True,
        "storage": "FileSystemStorage",
        "email": "django.core.mail.backends.console.EmailBackend",
        "bedrock": None,
    }


def test_production_refuses_to_start_without_a_secret_key():
    result = run_with_env("print('started')", DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_are_safe_when_debug_is_off():
    values = settings_json(
        """
        print(json.dumps({
            "session_secure": settings.SESSION_COOKIE_SECURE,
            "csrf_secure": settings.CSRF_COOKIE_SECURE,
            "hsts": settings.SECURE_HSTS_SECONDS,
            "proxy_ssl": settings.SECURE_PROXY_SSL_HEADER,
            "renderers": settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
            "hosts": settings.ALLOWED_HOSTS,
            "cors": settings.CORS_ALLOWED_ORIGINS,
            "csrf_origins": settings.CSRF_TRUSTED_ORIGINS,
            "log_format": settings.LOG_FORMAT,
        }))
        """,
        DEBUG="0",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="api.example.com",
        CORS_ALLOWED_ORIGINS="https://app.example.com,https://admin.example.com",
        CSRF_TRUSTED_ORIGINS="https://app.example.com",
    )

    assert values["session_secure"] and values["csrf_secure"]
    assert values["hsts"] >= 31_536_000
    assert values["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["renderers"] == ["rest_framework.renderers.JSONRenderer"]
    assert values["hosts"] == ["api.example.com"]
    assert values["cors"] == ["https://app.example.com", "https://admin.example.com"]
    assert values["csrf_origins"] == ["https://app.example.com"]
    assert values["log_format"] == "json"


@pytest.mark.postgres
def test_database_url_switches_to_postgresql():
    values = settings_json(
        """
        from django.db import connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            name = cursor.fetchone()[0]
        print(json.dumps({"vendor": connection.vendor, "name": name}))
        """,
        DEBUG="1",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
    )

    assert values == {"vendor": "postgresql", "name": "test"}


@pytest.mark.redis
def test_redis_url_switches_the_cache_to_redis_shared_between_processes():
    env = {"DEBUG": "1", "REDIS_URL": "redis://127.0.0.1:6379/14"}
    settings_json(
        """
        from django.core.cache import cache
        cache.set("settings-test", "from-process-one", 30)
        print(json.dumps({}))
        """,
        **env,
    )

    values = settings_json(
        """
        from django.core.cache import cache
        print(json.dumps({"backend": settings.CACHES["default"]["BACKEND"], "value": cache.get("settings-test"),
                          "broker": settings.CELERY_BROKER_URL, "eager": settings.CELERY_TASK_ALWAYS_EAGER}))
        cache.delete("settings-test")
        """,
        **env,
    )

    assert values == {
        "backend": "backend.redis_cache.SharedPoolRedisCache",
        "value": "from-process-one",
        "broker": "redis://127.0.0.1:6379/14",
        "eager": False,
    }


def test_bucket_name_switches_file_storage_to_s3(s3_server):
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_server, **credentials)
    s3.create_bucket(Bucket="media-bucket")

    values = settings_json(
        """
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage
        name = default_storage.save("avatars/a.txt", ContentFile(b"hello over S3"))
        with default_storage.open(name) as handle:
            body = handle.read().decode()
        print(json.dumps({"name": name, "body": body, "url": default_storage.url(name)}))
        """,
        DEBUG="1",
        AWS_STORAGE_BUCKET_NAME="media-bucket",
        AWS_S3_ENDPOINT_URL=s3_server,
        AWS_S3_ACCESS_KEY_ID="test",
        AWS_S3_SECRET_ACCESS_KEY="test",
    )

    assert values["body"] == "hello over S3"
    stored = s3.get_object(Bucket="media-bucket", Key=f"media/{values['name']}")["Body"].read()
    assert stored == b"hello over S3"
    assert "X-Amz-Signature" in values["url"]  # private objects are served through signed URLs


def test_llm_config_file_replaces_the_model_registry(tmp_path):
    config = {
        "models": [{"id": "eu.anthropic.claude-x", "context_window": 1000, "max_output_tokens": 100}],
        "aliases": {"chat-default": {"label": "X", "chain": ["eu.anthropic.claude-x"], "selectable": True}},
    }
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(config))

    values = settings_json(
        """
        from backend.llm.registry import get_registry
        registry = get_registry()
        print(json.dumps({"chain": [m.id for m in registry.chain("chat-default")]}))
        """,
        DEBUG="1",
        LLM_CONFIG_FILE=str(path),
    )

    assert values == {"chain": ["eu.anthropic.claude-x"]}
