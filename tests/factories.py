"""The one user factory of the whole suite (factory_boy); app factories build on it.

`UserFactory()` is a verified user whose password is DEFAULT_PASSWORD; pass `password=None` for an
account without a usable password, or any field to override it.
"""

from __future__ import annotations

import functools

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password

from appauth.models import AppUser

DEFAULT_PASSWORD = "correct horse battery staple"


def _hashed(raw: str | None) -> str:
    """`make_password(raw)` with the configured hashers, computed once per password and hasher list.

    The production hasher (Argon2) takes about a third of a second per call; suites that make a user
    per test would spend most of their time there. The stored hash is real (salted once), so
    password checks behave exactly as for any other account.
    """
    if raw is None:
        return make_password(None)  # an unusable password, different each time
    return _hashed_once(raw, tuple(settings.PASSWORD_HASHERS))


@functools.lru_cache(maxsize=64)
def _hashed_once(raw: str, hashers: tuple[str, ...]) -> str:
    return make_password(raw)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppUser
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.Sequence(lambda n: f"user_{n:012x}")
    first_name = "Ada"
    last_name = "Lovelace"
    email_verified = True
    password = factory.django.Password(DEFAULT_PASSWORD, transform=_hashed)
