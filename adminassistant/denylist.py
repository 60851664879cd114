"""The one secret denylist: it feeds the manifest, the validator, the interpreter, the result
serializer and the database role (`manage.py adminassistant_role`).

A field is denied by its name (passwords, tokens, keys, secrets, hashes, session data, OTP and
salt fields), a model by its label (sessions, tokens, audit logs, the assistant's own rows, the
LLM ledger of prompts) or by the operator (`ADMIN_ASSISTANT_EXCLUDE`: "app_label.Model" or
"app_label.Model.field").
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

# A field is secret when one of its words (split on "_") is one of these, or its name contains
# "password"/"secret" anywhere. Counters such as `input_tokens` or `token_count` are not secrets.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "hash",
        "digest",
        "salt",
        "otp",
        "totp",
        "hotp",
        "credential",
        "credentials",
        "private",
        "session",
        "signature",
        "key",
        "keys",
        "apikey",
        "encrypted",
        "mfa",
    }
)
SECRET_SUBSTRING = re.compile(r"password|passwd|secret|apikey|api_key", re.IGNORECASE)
NOT_SECRET = re.compile(r"(^|_)tokens$|(^|_)token_count$", re.IGNORECASE)

# Whole models never shown: secrets, sessions, tokens, audit trails and the assistant's own rows.
DENIED_MODELS = frozenset(
    {
        "sessions.session",
        "admin.logentry",
        "appauth.authtoken",
        "appauth.authevent",
        "appauth.socialidentity",
        "knox.authtoken",
        "streaming.idempotencykey",
        "authtoken.token",
        "authtoken.tokenproxy",
    }
)
DENIED_APPS = frozenset({"adminassistant", "social_django", "otp_totp", "otp_static", "otp_email", "django_otp"})
DENIED_MODEL_NAME = re.compile(r"token|secret|session|otp|credential|audit", re.IGNORECASE)


def _excluded() -> tuple[set[str], set[str]]:
    models: set[str] = set()
    fields: set[str] = set()
    for entry in settings.ADMIN_ASSISTANT_EXCLUDE:
        entry = entry.strip().lower()
        (fields if entry.count(".") == 2 else models).add(entry)
    return models, fields


def model_denied(model: Any) -> bool:
    meta = model._meta
    label = meta.label_lower
    if label in DENIED_MODELS or meta.app_label in DENIED_APPS or DENIED_MODEL_NAME.search(meta.object_name or ""):
        return True
    return label in _excluded()[0]


def field_name_denied(name: str) -> bool:
    if SECRET_SUBSTRING.search(name):
        return True
    if NOT_SECRET.search(name):
        return False
    return any(word in SECRET_WORDS for word in name.lower().split("_"))


def field_denied(model: Any, name: str) -> bool:
    """Whether `model.name` (a field, relation or column name) may never be read or filtered on."""
    if field_name_denied(name):
        return True
    return f"{model._meta.label_lower}.{name.lower()}" in _excluded()[1]
