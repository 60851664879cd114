"""Fixtures of the help app: a visitor with its session token, an API client (data in factories.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.sitehelp.factories import Visitor, make_visitor


@pytest.fixture
def visitor() -> Visitor:
    return make_visitor()


@pytest.fixture
def api() -> APIClient:
    return APIClient()
