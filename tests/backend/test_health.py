import pytest
from django.db.utils import OperationalError
from django.test import Client

from backend import health
from tests.helpers import assert_error


def test_healthz_answers_while_the_process_serves():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_every_backing_service():
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_names_an_unreachable_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }

    response = Client().get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["failed"] == ["cache"]
    assert error["details"]["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readyz_names_an_unreachable_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"]["failed"] == ["broker"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_reaches_a_real_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"

    response = Client().get("/readyz")

    assert response.status_code == 200, response.content


def test_readyz_names_a_failing_database(monkeypatch):
    def broken() -> None:
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"]["failed"] == ["database"]


def test_health_endpoints_refuse_other_methods_in_the_error_shape():
    response = Client().post("/readyz")

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
