"""A short-lived cache of token → (user, token row), so most requests authenticate without SQL.

The cache is Django's default cache: Redis when configured (shared by every process), in-process
memory otherwise. An entry lives `AUTH_TOKEN_CACHE_SECONDS` (0 turns the cache off) and is keyed
by a hash of the token's digest, never by the token; the user's password hash is left out.

Revocation is honoured at once. Every change that can end a token's validity — the token row
deleted (logout, logout-all, revoke, eviction at login, expiry, the user deleted) or the user row
saved (password change, deactivation, any other edit) — writes a *revoked* marker for each
affected token. A lookup reads the entry and the marker in one round trip (`get_many`) and
trusts the entry only when no marker exists. The marker outlives any entry a concurrent request
may still write from an older database read (it lives twice the entry's lifetime), so a stale
entry can never be revived. These receivers are cache coherence, not domain flow: they make the
cache agree with the database however a row changes (services, the admin, cascades).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from appauth.models import AppUser, AuthToken
from backend.db import SqlGuard


def lifetime() -> int:
    """Seconds an entry lives; 0 = the cache is off."""
    return max(0, int(settings.AUTH_TOKEN_CACHE_SECONDS))


def _keys(digest: str) -> tuple[str, str]:
    name = hashlib.sha256(digest.encode()).hexdigest()[:40]
    return f"auth:token:{name}", f"auth:revoked:{name}"


def lookup(digest: str) -> tuple[AppUser, AuthToken] | None:
    """The cached (user, token) of this digest, or None (not cached, or revoked since)."""
    entry_key, revoked_key = _keys(digest)
    found = cache.get_many([entry_key, revoked_key])
    if revoked_key in found:
        return None
    entry = found.get(entry_key)
    if not isinstance(entry, tuple) or len(entry) != 2:
        return None
    user, auth_token = entry
    if not isinstance(user, AppUser) or not isinstance(auth_token, AuthToken) or auth_token.digest != digest:
        return None
    return user, auth_token


def store(user: AppUser, auth_token: AuthToken) -> None:
    """Remember the pair, without the user's password hash (a view that needs it loads it then)."""
    seconds = lifetime()
    if seconds:
        cached_user = copy.copy(user)
        cached_user.__dict__.pop("password", None)  # a deferred field once unpickled
        cache.set(_keys(auth_token.digest)[0], (cached_user, auth_token), timeout=seconds)


# --- the process-local memo of the hottest reads --------------------------------------------------
#
# The chat list and history page are read many times a second by the same clients. For them a
# verified pair is also kept in this process for `lifetime()` seconds, and trusted only by a
# reader that puts `guard()` into its own statement: the token row must still exist and its user
# be active, which is what revocation changes. So a revoked token reads nothing, at once, and
# these reads spare the cache's round trip and unpickling.

_MEMO_SIZE = 4096
_memo: dict[str, tuple[float, AppUser, AuthToken]] = {}
_memo_lock = threading.Lock()


def memo_get(digest: str) -> tuple[AppUser, AuthToken] | None:
    """The pair this process verified for `digest` within `lifetime()` seconds (trust it only with `guard`)."""
    entry = _memo.get(digest)
    if entry is None or time.monotonic() - entry[0] >= lifetime():
        return None
    return entry[1], entry[2]


def memo_put(user: AppUser, auth_token: AuthToken) -> None:
    """Remember a pair just verified (without the user's password hash); the oldest go first when full."""
    if not lifetime():
        return
    cached_user = copy.copy(user)
    cached_user.__dict__.pop("password", None)
    with _memo_lock:
        _memo.pop(auth_token.digest, None)
        while len(_memo) >= _MEMO_SIZE:
            del _memo[next(iter(_memo))]
        _memo[auth_token.digest] = (time.monotonic(), cached_user, auth_token)


def memo_drop(digest: str) -> None:
    with _memo_lock:
        _memo.pop(digest, None)


_GUARD = (
    f"EXISTS (SELECT 1 FROM {AuthToken._meta.db_table} auth_t JOIN {AppUser._meta.db_table} auth_u"  # noqa: S608 - table names; values are parameters
    " ON auth_u.id = auth_t.user_id"
    " WHERE auth_t.digest = %(auth_digest)s AND auth_t.user_id = %(auth_user)s AND auth_u.is_active)"
)


def guard(auth_token: AuthToken) -> SqlGuard:
    """The condition under which a memoized pair is still valid, for the reader's own statement."""
    user_id = AuthToken._meta.get_field("user").get_db_prep_value(auth_token.user_id, connection)  # SQLite: hex text
    return SqlGuard(_GUARD, {"auth_digest": auth_token.digest, "auth_user": user_id})


def revoke(digests: list[str]) -> None:
    """Mark these tokens revoked now and again when the transaction commits (a reader may refill meanwhile)."""
    if not digests:
        return

    def mark() -> None:
        seconds = max(lifetime(), 1) * 2
        markers: dict[str, Any] = {_keys(digest)[1]: 1 for digest in digests}
        cache.set_many(markers, timeout=seconds)
        cache.delete_many([_keys(digest)[0] for digest in digests])

    for digest in digests:
        memo_drop(digest)
    mark()
    transaction.on_commit(mark)


def _token_deleted(sender: type[AuthToken], instance: AuthToken, **kwargs: Any) -> None:
    revoke([instance.digest])


def _user_saved(sender: type[AppUser], instance: AppUser, created: bool, **kwargs: Any) -> None:
    if not created:
        revoke(list(AuthToken.objects.filter(user_id=instance.pk).values_list("digest", flat=True)))


def connect() -> None:
    """Called once from `AppauthConfig.ready`."""
    post_delete.connect(_token_deleted, sender=AuthToken, dispatch_uid="appauth.token_cache.token_deleted")
    post_save.connect(_user_saved, sender=AppUser, dispatch_uid="appauth.token_cache.user_saved")
