"""Production-facing settings the accounts app relies on."""

from datetime import timedelta

from django.conf import settings
from knox.settings import knox_settings


def test_argon2_hashes_first_and_pbkdf2_remains_for_upgrades(production_hashers):
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in settings.PASSWORD_HASHERS


def test_validators_cover_length_common_and_similarity():
    names = {v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS}

    assert {"MinimumLengthValidator", "CommonPasswordValidator", "UserAttributeSimilarityValidator"} <= names


def test_knox_uses_our_token_model_with_a_prefix_refresh_and_a_cap():
    assert settings.AUTH_USER_MODEL == "appauth.AppUser"
    assert knox_settings.TOKEN_MODEL == "appauth.AuthToken"
    assert knox_settings.TOKEN_PREFIX
    assert knox_settings.AUTO_REFRESH is True
    assert timedelta(days=settings.AUTH_TOKEN_MAX_LIFETIME_DAYS) == knox_settings.AUTO_REFRESH_MAX_TTL
    assert knox_settings.TOKEN_TTL < knox_settings.AUTO_REFRESH_MAX_TTL


def test_reset_links_are_short_lived():
    assert settings.PASSWORD_RESET_TIMEOUT <= 3600
