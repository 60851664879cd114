"""Database marks and staff users of the admin assistant's tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import UserFactory

# Queries run on the assistant's own alias, a second connection: these tests commit their data.
ALIAS_DB = pytest.mark.django_db(transaction=True, databases=["default", "adminassistant"])
# Most tests run the guarded transaction on the default connection, nested in the test's own
# transaction (a savepoint: read-only and rolled back all the same), which is much faster.
DB = pytest.mark.django_db


def make_staff(email: str = "staff@example.com", *, superuser: bool = True, **extra: Any) -> Any:
    fields = {"is_staff": True, **extra}
    if superuser:
        fields["is_superuser"] = True
    return UserFactory(email=email, username=email.split("@")[0], **fields)
