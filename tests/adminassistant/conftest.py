"""Fixtures of the admin assistant's tests: the seeded data set, staff users, their manifests."""

from __future__ import annotations

from typing import Any

import pytest

from adminassistant import manifest as manifest_module
from adminassistant.eval import fixtures
from tests.factories import UserFactory

# Queries run on the assistant's own alias, a second connection: these tests commit their data.
ALIAS_DB = pytest.mark.django_db(transaction=True, databases=["default", "adminassistant"])
# Most tests run the guarded transaction on the default connection, nested in the test's own
# transaction (a savepoint: read-only and rolled back all the same), which is much faster.
DB = pytest.mark.django_db


@pytest.fixture
def on_default_alias(settings: Any) -> None:
    settings.ADMIN_ASSISTANT_DATABASE_ALIAS = "default"


def make_staff(email: str = "staff@example.com", *, superuser: bool = True, **extra: Any) -> Any:
    fields = {"is_staff": True, **extra}
    if superuser:
        fields["is_superuser"] = True
    return UserFactory(email=email, username=email.split("@")[0], **fields)


@pytest.fixture
def seeded(db: None) -> None:
    fixtures.seed()


@pytest.fixture
def superuser(db: None) -> Any:
    return make_staff("root@example.com")


@pytest.fixture
def full_manifest(superuser: Any) -> manifest_module.Manifest:
    return manifest_module.for_user(superuser)
