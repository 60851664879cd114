"""Two-factor sign-in: TOTP (RFC 6238, via pyotp) with single-use recovery codes.

- Enrol (re-authenticated) → the secret and an otpauth:// URI; confirm with a first code →
  active, and the recovery codes are shown once. Disable and new recovery codes need
  re-authentication and a current code.
- A sign-in of an enrolled account (password, Google, browser providers) answers with a
  short-lived challenge instead of a token; `mfa_login_complete` exchanges it plus a code.
- Codes of the current step ±1 are accepted, each time step once: `last_used_step` only
  moves forward (a conditional UPDATE), so a replayed code is refused even within its window.
- Recovery codes are stored as keyed hashes (HMAC with SECRET_KEY) and used once.
- The second step has its own soft lockout per account (same thresholds as the password
  lockout) and a per-IP throttle on its endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from appauth.errors import AccountLocked, InvalidMfaCode, MfaAlreadyEnabled, MfaChallengeInvalid, MfaNotEnabled
from appauth.models import AppUser, AuthEvent, RecoveryCode, TOTPDevice
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.reauth import user_reauthenticate
from backend import ratelimit
from backend.errors import RateLimited
from backend.ratelimit import Lockout

TOTP_PERIOD = 30
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


@dataclass(frozen=True)
class MfaChallenge:
    """What a sign-in of an enrolled account answers instead of a token."""

    challenge: str  # secret; shown once
    expires_in: int
    user: AppUser


def _fernet() -> Fernet:
    key = hashlib.sha256(f"appauth.totp:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _secret(device: TOTPDevice) -> str:
    return _fernet().decrypt(device.encrypted_secret.encode()).decode()


def _recovery_digest(user: AppUser, code: str) -> str:
    normalized = code.strip().lower().replace("-", "").replace(" ", "")
    return salted_hmac("appauth.recovery-code", f"{user.pk}:{normalized}", algorithm="sha256").hexdigest()


def mfa_lockout() -> Lockout:
    return Lockout(
        scope="mfa",
        threshold=settings.AUTH_LOCKOUT_THRESHOLD,
        window=settings.AUTH_LOCKOUT_WINDOW_SECONDS,
        base=settings.AUTH_LOCKOUT_BASE_SECONDS,
        maximum=settings.AUTH_LOCKOUT_MAX_SECONDS,
    )


def mfa_enabled(*, user: AppUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def mfa_enrollment_required(*, user: AppUser) -> bool:
    """Staff must enrol when AUTH_MFA_REQUIRED_FOR_STAFF is on (the admin refuses them until then)."""
    return bool(settings.AUTH_MFA_REQUIRED_FOR_STAFF and user.is_staff and not mfa_enabled(user=user))


def _manage_rate(user: AppUser) -> None:
    decision = ratelimit.hit("mfa_manage_user", str(user.pk), settings.AUTH_RATE_LIMITS["mfa_manage_user"])
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)


def totp_verify(*, user: AppUser, code: str, device: TOTPDevice | None = None) -> bool:
    """True when `code` is the TOTP of a step within ±1 of now not used before (then it is used up)."""
    device = device or TOTPDevice.objects.filter(user=user).first()
    code = code.strip().replace(" ", "")
    if device is None or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(_secret(device), interval=TOTP_PERIOD)
    current = int(time.time()) // TOTP_PERIOD
    for step in (current - 1, current, current + 1):
        if constant_time_compare(totp.at(step * TOTP_PERIOD), code):
            # Only forward: a code of this step (or an older one) is accepted once.
            return bool(TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step))
    return False


def recovery_code_use(*, user: AppUser, code: str) -> bool:
    """True (and the code spent) when `code` is an unused recovery code of the user."""
    if not code.strip():
        return False
    used = RecoveryCode.objects.filter(user=user, digest=_recovery_digest(user, code), used_at__isnull=True).update(
        used_at=timezone.now()
    )
    return bool(used)


def _recovery_codes_issue(user: AppUser) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(settings.AUTH_MFA_RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, digest=_recovery_digest(user, c)) for c in codes])
    return codes


def _second_factor_ok(
    *, user: AppUser, code: str | None, recovery_code: str | None, client: ClientInfo | None = None
) -> bool:
    if code:
        return totp_verify(user=user, code=code)
    if recovery_code and recovery_code_use(user=user, code=recovery_code):
        remaining = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
        auth_event_record(
            kind=AuthEvent.Kind.MFA_RECOVERY_CODE_USED, user=user, client=client, details={"remaining": remaining}
        )
        return True
    return False


@transaction.atomic
def totp_enrol(
    *, user: AppUser, client: ClientInfo, password: str | None = None, google_id_token: str | None = None
) -> tuple[str, str]:
    """Start enrolment after re-authentication; returns (secret, otpauth:// URI) for the app.

    Replaces an unconfirmed enrolment; raises MfaAlreadyEnabled when one is active.
    """
    _manage_rate(user)
    user_reauthenticate(user=user, password=password, google_id_token=google_id_token)
    if mfa_enabled(user=user):
        raise MfaAlreadyEnabled()
    secret = pyotp.random_base32()
    TOTPDevice.objects.update_or_create(
        user=user,
        defaults={"encrypted_secret": _fernet().encrypt(secret.encode()).decode(), "last_used_step": 0},
    )
    uri = pyotp.TOTP(secret, interval=TOTP_PERIOD).provisioning_uri(
        name=user.email, issuer_name=settings.AUTH_MFA_ISSUER
    )
    return secret, uri


@transaction.atomic
def totp_confirm(*, user: AppUser, code: str, client: ClientInfo) -> list[str]:
    """Activate the pending enrolment with a first code; returns the recovery codes (shown once)."""
    _manage_rate(user)
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise MfaNotEnabled()
    if not totp_verify(user=user, code=code, device=device):
        raise InvalidMfaCode()
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at=timezone.now())
    codes = _recovery_codes_issue(user)
    auth_event_record(kind=AuthEvent.Kind.MFA_ENABLED, user=user, client=client)
    return codes


def _reauthenticate_with_code(
    *, user: AppUser, password: str | None, google_id_token: str | None, code: str | None, recovery_code: str | None
) -> None:
    _manage_rate(user)
    if not mfa_enabled(user=user):
        raise MfaNotEnabled()
    user_reauthenticate(user=user, password=password, google_id_token=google_id_token)
    if not _second_factor_ok(user=user, code=code, recovery_code=recovery_code):
        raise InvalidMfaCode()


def mfa_disable(
    *,
    user: AppUser,
    client: ClientInfo,
    password: str | None = None,
    google_id_token: str | None = None,
    code: str | None = None,
    recovery_code: str | None = None,
) -> None:
    """Turn two-factor sign-in off (re-authentication and a current code required)."""
    _reauthenticate_with_code(
        user=user, password=password, google_id_token=google_id_token, code=code, recovery_code=recovery_code
    )
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        auth_event_record(kind=AuthEvent.Kind.MFA_DISABLED, user=user, client=client)


def recovery_codes_regenerate(
    *,
    user: AppUser,
    client: ClientInfo,
    password: str | None = None,
    google_id_token: str | None = None,
    code: str | None = None,
) -> list[str]:
    """Replace every recovery code (the old ones stop working); re-authentication and a TOTP code."""
    _reauthenticate_with_code(
        user=user, password=password, google_id_token=google_id_token, code=code, recovery_code=None
    )
    with transaction.atomic():
        codes = _recovery_codes_issue(user)
        auth_event_record(kind=AuthEvent.Kind.MFA_RECOVERY_CODES_REGENERATED, user=user, client=client)
    return codes


def mfa_status(*, user: AppUser) -> dict[str, Any]:
    device = TOTPDevice.objects.filter(user=user).first()
    return {
        "enabled": device is not None and device.confirmed,
        "confirmed_at": device.confirmed_at if device is not None else None,
        "recovery_codes_remaining": RecoveryCode.objects.filter(user=user, used_at__isnull=True).count(),
        "enrollment_required": mfa_enrollment_required(user=user),
    }


# --- The second step of a sign-in -------------------------------------------------------------------


def _challenge_key(challenge: str) -> str:
    return "auth:mfa-challenge:" + hashlib.sha256(challenge.encode()).hexdigest()


def mfa_challenge_create(*, user: AppUser, device_name: str, kind: str, client: ClientInfo) -> MfaChallenge:
    """A short-lived challenge for a sign-in whose first factor passed (only its hash is a cache key)."""
    challenge = secrets.token_urlsafe(32)
    ttl = int(settings.AUTH_MFA_CHALLENGE_SECONDS)
    cache.set(_challenge_key(challenge), {"user_id": str(user.pk), "device_name": device_name, "kind": kind}, ttl)
    auth_event_record(kind=AuthEvent.Kind.MFA_CHALLENGED, user=user, client=client, details={"via": kind})
    return MfaChallenge(challenge=challenge, expires_in=ttl, user=user)


def mfa_challenge_verify(
    *, challenge: str, code: str | None, recovery_code: str | None, client: ClientInfo
) -> tuple[AppUser, str, str]:
    """Check the second factor of a challenge; returns (user, device_name, kind) and spends it.

    Raises MfaChallengeInvalid (unknown, expired or used), AccountLocked (too many wrong codes
    for the account: the lockout covers the second step too) or InvalidMfaCode.
    """
    key = _challenge_key(challenge)
    pending = cache.get(key)
    if not isinstance(pending, dict):
        raise MfaChallengeInvalid()
    user = AppUser.objects.filter(pk=pending["user_id"], is_active=True).first()
    if user is None:
        raise MfaChallengeInvalid()
    lockout = mfa_lockout()
    locked_for = lockout.reserve(str(user.pk))
    if locked_for:
        raise AccountLocked(retry_after=locked_for)
    if not _second_factor_ok(user=user, code=code, recovery_code=recovery_code, client=client):
        locked_for = lockout.register_failure(str(user.pk), reserved=True)
        auth_event_record(kind=AuthEvent.Kind.MFA_FAILED, user=user, client=client)
        if locked_for:
            cache.delete(key)  # a locked sign-in starts over with the password
            auth_event_record(
                kind=AuthEvent.Kind.LOCKED_OUT, user=user, client=client, details={"seconds": locked_for, "step": "mfa"}
            )
            raise AccountLocked(retry_after=locked_for)
        raise InvalidMfaCode()
    if not cache.delete(key):  # a parallel request spent it first
        raise MfaChallengeInvalid()
    lockout.clear(str(user.pk), forget_history=True)
    return user, str(pending.get("device_name", "")), str(pending.get("kind", ""))
