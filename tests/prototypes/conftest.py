"""Fixtures for the prototypes tests (`user` and `other_user` come from tests/conftest.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from appauth.models import AppUser


@pytest.fixture
def client(user: AppUser) -> APIClient:
    """An API client authenticated as `user` (it replaces pytest-django's plain test client here)."""
    api_client = APIClient()
    api_client.force_authenticate(user)
    return api_client
