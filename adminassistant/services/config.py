"""The AI settings: a singleton row read on every question (a change applies to the next
question in every process, no restart), and its API key, stored encrypted.

The key is encrypted with Fernet (`cryptography`) under a key derived from SECRET_KEY (HKDF,
with its own context string), shown only as its last four characters, and never logged or
returned by any endpoint. Rotating SECRET_KEY makes a stored key unreadable: it then counts
as missing and a superuser enters it again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from adminassistant import manifest
from adminassistant.models import AssistantSettings
from appauth.models import AppUser
from backend.llm.registry import get_registry

_CONTEXT = b"adminassistant.api-key.v1"
# Providers that authenticate with a key entered here (the server provider uses the
# environment's credentials, e.g. the AWS role of Bedrock).
KEYED_PROVIDERS = frozenset({AssistantSettings.Provider.ANTHROPIC, AssistantSettings.Provider.OPENAI_COMPATIBLE})
# The provider layer's name for each keyed provider (backend.llm registry entries' `provider`).
_LAYER_PROVIDER: dict[str, str] = {
    AssistantSettings.Provider.ANTHROPIC: "anthropic",
    AssistantSettings.Provider.OPENAI_COMPATIBLE: "openai",
}


def _fernet() -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_key(api_key: str) -> str:
    return _fernet().encrypt(api_key.encode()).decode()


def decrypt_key(token: str) -> str | None:
    """The stored key, or None when there is none or it cannot be read (SECRET_KEY rotated)."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def settings_get() -> AssistantSettings:
    row, _ = AssistantSettings.objects.get_or_create(pk=1)
    return row


def settings_set_api_key(*, row: AssistantSettings, api_key: str) -> None:
    """Store `api_key` encrypted (an empty string clears it). The caller saves the row."""
    api_key = api_key.strip()
    row.api_key_encrypted = encrypt_key(api_key) if api_key else ""
    row.api_key_last4 = api_key[-4:] if api_key else ""


@dataclass(frozen=True)
class Config:
    """What one question runs with, read when it is asked."""

    provider: str
    alias: str
    temperature: float
    max_tokens: int
    timeout_seconds: int
    send_aggregates: bool
    missing: tuple[str, ...]
    # The operator's key for the chosen provider (decrypted for this question only; never shown).
    api_keys: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ready(self) -> bool:
        return not self.missing


def _alias_known(alias: str) -> bool:
    return alias in get_registry().aliases


def config_current() -> Config:
    row = settings_get()
    alias = row.model_alias or settings.ADMIN_ASSISTANT_MODEL_ALIAS
    missing = []
    if not _alias_known(alias):
        missing.append("model")
    key = decrypt_key(row.api_key_encrypted) if row.provider in KEYED_PROVIDERS else None
    if row.provider in KEYED_PROVIDERS and key is None:
        missing.append("api_key")
    return Config(
        api_keys={_LAYER_PROVIDER[row.provider]: key} if key else {},
        provider=row.provider,
        alias=alias,
        temperature=row.temperature,
        max_tokens=row.max_tokens,
        timeout_seconds=row.timeout_seconds,
        send_aggregates=row.send_aggregates,
        missing=tuple(missing),
    )


def settings_check(*, user: AppUser) -> dict[str, Any]:
    """What is configured and what is missing (the key itself never; its last four for superusers)."""
    row = settings_get()
    config = config_current()
    models = manifest.for_user(user).models
    missing = list(config.missing)
    if not models:
        missing.append("models")
    return {
        "ready": not missing,
        "missing": missing,
        "provider": config.provider,
        "model": config.alias,
        "api_key_set": decrypt_key(row.api_key_encrypted) is not None,
        "api_key_masked": row.api_key_masked if user.is_superuser else "",
        "models_available": len(models),
        "database_alias": settings.ADMIN_ASSISTANT_DATABASE_ALIAS,
    }
