"""What counts as a provider-verified address, per provider (the pipeline's one judgement call)."""

from __future__ import annotations

import pytest

from appauth.social.pipeline import verified_email


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"email_verified": True}, ("a@example.com", True)),
        ({"email_verified": "true"}, ("a@example.com", False)),  # only a JSON true counts
        ({}, ("a@example.com", False)),
    ],
)
def test_google_trusts_only_an_explicit_email_verified_claim(response, expected):
    assert verified_email("google-oauth2", {"email": "a@example.com"}, response) == expected


def test_github_takes_the_primary_address_and_its_verified_flag():
    emails = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "main@example.com", "primary": True, "verified": False},
    ]

    assert verified_email("github", {"email": "public@example.com"}, {"emails": emails}) == ("main@example.com", False)
    emails[1]["verified"] = True
    assert verified_email("github", {}, {"emails": emails}) == ("main@example.com", True)
    assert verified_email("github", {"email": "public@example.com"}, {}) == ("public@example.com", False)


def test_microsoft_addresses_are_trusted_only_when_configured(settings):
    settings.AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL = False
    assert verified_email("microsoft-graph", {"email": "m@example.com"}, {}) == ("m@example.com", False)

    settings.AUTH_SOCIAL_MICROSOFT_TRUST_EMAIL = True
    assert verified_email("microsoft-graph", {"email": "m@example.com"}, {}) == ("m@example.com", True)
