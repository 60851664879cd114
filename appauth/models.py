"""Accounts: users, API tokens, linked provider identities, two-factor devices, invitations, the audit trail."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS


def normalize_email_address(email: str) -> str:
    """The canonical form we store and look up: trimmed and lower-cased as a whole."""
    return email.strip().lower()


class UserManager(BaseUserManager["AppUser"]):
    """Users log in with their email; the username is generated, random and unique."""

    use_in_migrations = True

    def generate_unique_username(self) -> str:
        while True:
            candidate = f"user_{secrets.token_hex(6)}"
            if not self.model.objects.filter(username=candidate).exists():
                return candidate

    def get_by_natural_key(self, username: str | None) -> AppUser:
        """Case-insensitive lookup by email (what `authenticate()` calls)."""
        return self.get(email=normalize_email_address(username or ""))

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> AppUser:
        if not email:
            raise ValueError("An email address is required.")
        extra_fields.setdefault("username", self.generate_unique_username())
        user = self.model(email=normalize_email_address(email), **extra_fields)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra_fields: Any) -> AppUser:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        extra_fields.setdefault("email_verified", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self.create_user(email, password, **extra_fields)


def avatar_upload_to(instance: AppUser, filename: str) -> str:
    """A random name under the user's folder: the client's file name is never used."""
    return f"avatars/{instance.pk}/{uuid.uuid4().hex}.png"


class AppUser(AbstractUser):  # type: ignore[django-manager-missing]  # knox is untyped
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), unique=True)
    email_verified = models.BooleanField(_("email verified"), default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    avatar = models.ImageField(upload_to=avatar_upload_to, null=True, blank=True)
    last_login_ip = models.GenericIPAddressField(null=True, blank=True)
    # Mirrors the cache-held soft lockout for the admin; the cache is authoritative.
    locked_until = models.DateTimeField(null=True, blank=True)
    # Part of the session auth hash: bumping it ends every browser session ("log out everywhere").
    session_generation = models.PositiveIntegerField(default=0, editable=False)
    # Sign-up policy "approval": the account stays inactive until staff approve it in the admin.
    pending_approval = models.BooleanField(_("awaiting approval"), default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="appauth_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email_address(self.email)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.username:  # e.g. created in the admin, which only asks for the email
            self.username = AppUser.objects.generate_unique_username()
        super().save(*args, **kwargs)

    def get_session_auth_hash(self) -> str:
        """Sessions die when the password changes (as in Django) or `session_generation` is bumped."""
        return self._session_hash(secret=None)

    def get_session_auth_fallback_hash(self) -> Iterator[str]:
        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(secret=fallback_secret)

    def _session_hash(self, *, secret: str | bytes | None) -> str:
        return salted_hmac(
            "appauth.models.AppUser.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class AuthToken(AbstractAuthToken):
    """A knox token (only its SHA-512 digest and first characters are stored) plus device data.

    Replaces knox's model through `KNOX_TOKEN_MODEL`; the public `id` lets a user revoke
    one of their tokens without ever seeing another token's digest.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True)
    device_name = models.CharField(max_length=100, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created"]
        indexes = [models.Index(fields=["user", "expiry"], name="appauth_token_user_expiry")]

    def __str__(self) -> str:
        return f"{self.token_key}… ({self.user_id})"


class SocialIdentity(models.Model):
    """An external identity linked to a user, keyed by the provider's stable subject id."""

    class Provider(models.TextChoices):
        GOOGLE = "google", "Google"
        GITHUB = "github", "GitHub"
        MICROSOFT = "microsoft", "Microsoft"

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="social_identities")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("social identity")
        verbose_name_plural = _("social identities")
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="appauth_social_provider_subject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject}"


class AuthEvent(models.Model):
    """Append-only audit record of an authentication event. Never holds a secret."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("registered")
        REGISTER_DUPLICATE = "register_duplicate", _("registration for an existing email")
        EMAIL_VERIFIED = "email_verified", _("email verified")
        LOGIN_SUCCEEDED = "login_succeeded", _("login succeeded")
        LOGIN_FAILED = "login_failed", _("login failed")
        LOCKED_OUT = "locked_out", _("locked out")
        GOOGLE_LOGIN = "google_login", _("Google login")
        GOOGLE_LINKED = "google_linked", _("Google identity linked")
        SOCIAL_LOGIN = "social_login", _("social sign-in")
        SOCIAL_LINKED = "social_linked", _("social identity linked")
        SOCIAL_UNLINKED = "social_unlinked", _("social identity unlinked")
        MFA_CHALLENGED = "mfa_challenged", _("second factor requested")
        MFA_FAILED = "mfa_failed", _("second factor failed")
        MFA_ENABLED = "mfa_enabled", _("two-factor sign-in enabled")
        MFA_DISABLED = "mfa_disabled", _("two-factor sign-in disabled")
        MFA_RECOVERY_CODE_USED = "mfa_recovery_code_used", _("recovery code used")
        MFA_RECOVERY_CODES_REGENERATED = "mfa_recovery_codes_regenerated", _("recovery codes regenerated")
        INVITATION_CREATED = "invitation_created", _("invitation created")
        ACCOUNT_APPROVED = "account_approved", _("account approved")
        ACCOUNT_DEACTIVATED = "account_deactivated", _("account deactivated")
        LOGOUT = "logout", _("logout")
        LOGOUT_ALL = "logout_all", _("logout everywhere")
        EMAIL_CHANGE_REQUESTED = "email_change_requested", _("email change requested")
        EMAIL_CHANGED = "email_changed", _("email changed")
        TOKEN_REVOKED = "token_revoked", _("token revoked")
        PASSWORD_RESET_REQUESTED = "password_reset_requested", _("password reset requested")
        PASSWORD_RESET = "password_reset", _("password reset")
        PASSWORD_CHANGED = "password_changed", _("password changed")
        PROFILE_UPDATED = "profile_updated", _("profile updated")
        ACCOUNT_DELETED = "account_deleted", _("account deleted")

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    user = models.ForeignKey(AppUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="auth_events")
    # The account the event concerns, kept after deletion (ids are not secrets).
    subject_id = models.UUIDField(null=True, blank=True, db_index=True)
    email = models.EmailField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("auth event")
        verbose_name_plural = _("auth events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "kind", "created_at"], name="appauth_event_user_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.email or self.subject_id or ''}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Auth events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Auth events are append-only.")


class LoginCode(models.Model):
    """A one-time code the browser sign-in flow hands the single-page app (never a token in a URL).

    Only its SHA-256 digest is stored; it is good once, for `AUTH_SOCIAL_LOGIN_CODE_SECONDS`.
    """

    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=SocialIdentity.Provider.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("sign-in code")
        verbose_name_plural = _("sign-in codes")

    def __str__(self) -> str:
        return f"{self.provider} code for {self.user_id}"


class TOTPDevice(models.Model):
    """A user's authenticator app (RFC 6238 TOTP). One per user; active once confirmed.

    The shared secret is stored encrypted (Fernet, key derived from SECRET_KEY: see
    `appauth.services.mfa`). `last_used_step` is the last accepted time step: a code of that
    step or an earlier one is a replay and is refused.
    """

    user = models.OneToOneField(AppUser, on_delete=models.CASCADE, primary_key=True, related_name="totp_device")
    encrypted_secret = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")

    def __str__(self) -> str:
        return f"TOTP for {self.user_id}"

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """A single-use recovery code for two-factor sign-in; only a keyed hash of it is stored."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        verbose_name_plural = _("recovery codes")
        constraints = [models.UniqueConstraint(fields=["user", "digest"], name="appauth_recovery_user_digest_unique")]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.user_id}"


class Invitation(models.Model):
    """A staff-issued invitation to sign up (sign-up policy "invite"). Only its digest is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # When set, only this address may use the invitation.
    email = models.EmailField(_("email address"), blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        AppUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        AppUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email or str(self.id)
