"""Uploads are rate-limited per account (UPLOAD_RATE_USER): decoding files is the costliest request."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.chat.apis.test_attachments import PDF, UPLOAD_URL, VALIDATE_URL, file_field
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.apis.test_attachments")]


def _client(email: str) -> APIClient:
    api = APIClient()
    api.force_authenticate(UserFactory(email=email))
    return api


def test_uploads_beyond_the_per_account_rate_are_a_429_with_retry_after(settings):
    settings.UPLOAD_RATE_USER = "3/h"
    alice, bob = _client("alice@example.com"), _client("bob@example.com")

    statuses = [
        alice.post(url, {"file": file_field("a.pdf", PDF)}, format="multipart").status_code
        for url in (UPLOAD_URL, VALIDATE_URL, UPLOAD_URL, UPLOAD_URL)
    ]
    refused = alice.post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart")

    assert statuses == [201, 200, 201, 429]
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    # Another account has its own budget; reading is not an upload.
    assert bob.post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart").status_code == 201
    assert alice.get(f"{UPLOAD_URL}00000000-0000-0000-0000-000000000000/").status_code == 404
