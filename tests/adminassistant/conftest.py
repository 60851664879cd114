"""Fixtures of the admin assistant's tests: the seeded data set, staff users, their manifests."""

from __future__ import annotations

from typing import Any

import pytest

from adminassistant import manifest as manifest_module
from adminassistant.eval import fixtures
from tests.adminassistant.helpers import make_staff


@pytest.fixture
def on_default_alias(settings: Any) -> None:
    settings.ADMIN_ASSISTANT_DATABASE_ALIAS = "default"


@pytest.fixture
def seeded(db: None) -> None:
    fixtures.seed()


@pytest.fixture
def superuser(db: None) -> Any:
    return make_staff("root@example.com")


@pytest.fixture
def full_manifest(superuser: Any) -> manifest_module.Manifest:
    return manifest_module.for_user(superuser)
