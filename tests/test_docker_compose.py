"""docker-compose.yml is not run here (no Docker engine); its structure and wiring are checked."""

import re
from pathlib import Path

import pytest
import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["web", "worker", "beat"]


def test_the_production_stack_has_every_service():
    assert {"web", "worker", "beat", "postgres", "redis", "minio"} <= set(SERVICES)


@pytest.mark.parametrize("name", ["web", "worker", "beat", "postgres", "redis", "minio"])
def test_every_long_running_service_has_a_healthcheck(name):
    healthcheck = SERVICES[name]["healthcheck"]

    assert healthcheck["test"]
    assert healthcheck["interval"]


def test_web_serves_the_asgi_application_with_uvicorn_and_checks_readiness():
    command = SERVICES["web"]["command"]

    # uvicorn's command line through backend.serve: each worker listens on its own socket
    assert "python -m backend.serve aiassistant.asgi:application" in command
    assert "--http httptools" in command
    assert "migrate" in command
    assert "/readyz" in " ".join(SERVICES["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_backing_services(name):
    depends_on = SERVICES[name]["depends_on"]

    for backing in ("postgres", "redis", "minio"):
        assert depends_on[backing]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_are_wired_to_the_backing_services(name):
    environment = SERVICES[name]["environment"]

    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    assert environment["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert environment["DEBUG"] == "0"


def test_worker_and_beat_run_celery_for_the_project():
    assert SERVICES["worker"]["command"].startswith("celery -A aiassistant worker")
    assert SERVICES["beat"]["command"].startswith("celery -A aiassistant beat")


def test_database_and_object_store_keep_their_data_in_volumes():
    assert set(COMPOSE["volumes"]) >= {"postgres-data", "minio-data"}
    assert any(volume.startswith("postgres-data:") for volume in SERVICES["postgres"]["volumes"])


def test_no_secret_is_written_into_the_compose_file():
    text = (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()

    assert "SECRET_KEY:" not in text
    assert "${POSTGRES_PASSWORD:?" in text


NGINX = (Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf").read_text()


def test_a_reverse_proxy_fronts_the_web_service_with_the_apps_limits():
    from django.conf import settings

    proxy = SERVICES["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["ports"] == ["8000:8000"]
    assert "ports" not in SERVICES["web"]  # only the proxy is published
    assert SERVICES["web"]["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    # The same ceilings as the ASGI guard (backend.asgi_limits), in nginx units.
    assert f"client_max_body_size {settings.REQUEST_BODY_MAX_BYTES // 1024}k;" in NGINX
    assert f"client_max_body_size {settings.UPLOAD_BODY_MAX_BYTES // (1024 * 1024)}m;" in NGINX
    assert f"large_client_header_buffers 4 {settings.REQUEST_HEADERS_MAX_BYTES // 1024}k;" in NGINX
    for prefix in settings.UPLOAD_PATH_PREFIXES:
        assert prefix.removeprefix("/api/v1/") in NGINX
    assert '"code": "payload_too_large"' in NGINX


def test_production_requires_a_real_mail_transport():
    assert "${EMAIL_URL:?" in SERVICES["web"]["environment"]["EMAIL_URL"]


def test_the_env_example_names_every_secret_the_stack_requires_and_only_documented_variables():
    repo = Path(__file__).resolve().parents[1]
    example = (repo / ".env.example").read_text()
    readme = (repo / "README.md").read_text()
    compose = (repo / "docker-compose.yml").read_text()

    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):\?", compose))

    assert required <= named
    assert not [name for name in named - required if f"`{name}`" not in readme]
