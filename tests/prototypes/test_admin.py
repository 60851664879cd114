"""Every prototypes model has a working admin list and change page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.prototypes.factories import VersionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["designproject", "group", "prototype", "prototypevariant", "prototypeversion"])
def test_admin_pages_render(model):
    version = VersionFactory()
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    objects = {
        "designproject": version.variant.prototype.project,
        "group": None,
        "prototype": version.variant.prototype,
        "prototypevariant": version.variant,
        "prototypeversion": version,
    }

    assert client.get(reverse(f"admin:prototypes_{model}_changelist")).status_code == 200
    if objects[model] is not None:
        assert client.get(reverse(f"admin:prototypes_{model}_change", args=[objects[model].pk])).status_code == 200
