"""Helpers for tests of the process-local token memo (`appauth.token_cache.memo_*`)."""

from __future__ import annotations

from django.core.cache import cache
from knox.crypto import hash_token

from appauth import token_cache
from appauth.authentication import TokenAuthentication
from appauth.models import AppUser, AuthToken


def memoized(token: str) -> bool:
    """Whether this process would trust `token` from its memo."""
    return TokenAuthentication().memoized(token.encode()) is not None


def revoked_elsewhere(token: str, *, deactivate: bool = False) -> None:
    """What another process's logout (or deactivation) leaves: the row gone, the shared marker set.

    Done behind this process's back (no signals here), so its memo still holds the token.
    """
    digest = hash_token(token)
    if deactivate:
        AppUser.objects.filter(pk=AuthToken.objects.get(digest=digest).user_id).update(is_active=False)
    else:
        AuthToken.objects.filter(digest=digest)._raw_delete(AuthToken.objects.db)
    cache.set(token_cache._keys(digest)[1], 1)
