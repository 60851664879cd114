"""Account errors, and the registry of their codes (a public contract: never rename one)."""

from __future__ import annotations

import enum

from backend.errors import ApplicationError, Conflict, RateLimited


class ErrorCode(enum.StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    ACCOUNT_LOCKED = "account_locked"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code
    INVALID_PASSWORD = "invalid_password"  # noqa: S105 - an error code
    REAUTHENTICATION_REQUIRED = "reauthentication_required"
    GOOGLE_ACCOUNT_CONFLICT = "google_account_conflict"
    GOOGLE_EMAIL_MISSING = "google_email_missing"
    GOOGLE_EMAIL_UNVERIFIED = "google_email_unverified"
    EMAIL_TAKEN = "email_taken"


class InvalidCredentials(ApplicationError):
    """Wrong email or password, unknown or inactive account: deliberately indistinguishable."""

    code = ErrorCode.INVALID_CREDENTIALS
    status_code = 400
    default_message = "The email address or password is incorrect."


class AccountLocked(RateLimited):
    """Too many failed logins for this email; answered for unknown emails alike. 429 + Retry-After."""

    code = ErrorCode.ACCOUNT_LOCKED
    default_message = "Too many failed sign-in attempts. Try again later or reset your password."


class InvalidLinkToken(ApplicationError):
    """An email verification or password reset link that is tampered, expired, used or foreign."""

    code = ErrorCode.INVALID_TOKEN
    status_code = 400
    default_message = "This link is invalid or has expired."


class InvalidPassword(ApplicationError):
    """The current password given for a sensitive action is wrong."""

    code = ErrorCode.INVALID_PASSWORD
    status_code = 400
    default_message = "The current password is incorrect."


class ReauthenticationRequired(ApplicationError):
    code = ErrorCode.REAUTHENTICATION_REQUIRED
    status_code = 400
    default_message = "Confirm this action with your password or a fresh Google sign-in."


class GoogleAccountConflict(Conflict):
    """The account with this email is already linked to a different Google account."""

    code = ErrorCode.GOOGLE_ACCOUNT_CONFLICT
    default_message = "This email belongs to an account linked to a different Google account."


class GoogleEmailMissing(ApplicationError):
    code = ErrorCode.GOOGLE_EMAIL_MISSING
    status_code = 400
    default_message = "The Google account did not share an email address."


class GoogleEmailUnverified(ApplicationError):
    """Google has not verified the email: we neither create nor link an account by it."""

    code = ErrorCode.GOOGLE_EMAIL_UNVERIFIED
    status_code = 400
    default_message = "Google has not verified this account's email address; sign in another way."


class SocialEmailMissing(ApplicationError):
    code = "social_email_missing"
    status_code = 400
    default_message = "The provider did not share an email address."


class SocialEmailUnverified(ApplicationError):
    """The provider has not verified the address: we neither create nor link an account by it."""

    code = "social_email_unverified"
    status_code = 400
    default_message = "The provider has not verified this account's email address; sign in another way."


class SocialAccountConflict(Conflict):
    code = "social_account_conflict"
    default_message = "This email belongs to an account linked to a different account at this provider."


class SocialSignInFailed(ApplicationError):
    """The provider refused or the browser flow was tampered with (state, code)."""

    code = "social_sign_in_failed"
    status_code = 400
    default_message = "Sign-in with the provider failed. Try again."


class InvalidLoginCode(ApplicationError):
    code = "invalid_login_code"
    status_code = 400
    default_message = "This sign-in code is invalid, used or expired. Sign in again."


class LastSignInMethod(Conflict):
    code = "last_sign_in_method"
    default_message = "This is your only way to sign in: set a password or connect another provider first."


class AccountPendingApproval(ApplicationError):
    code = "account_pending_approval"
    status_code = 403
    default_message = "Your account is waiting for approval by an administrator."


class InvitationInvalid(ApplicationError):
    code = "invitation_invalid"
    status_code = 400
    default_message = "Sign-up is by invitation only, and this invitation is not valid."


class InvitationExpired(ApplicationError):
    code = "invitation_expired"
    status_code = 400
    default_message = "This invitation has expired. Ask for a new one."


class SignupDomainNotAllowed(ApplicationError):
    code = "signup_domain_not_allowed"
    status_code = 400
    default_message = "Sign-up is not open to addresses of this domain."


class MfaChallengeInvalid(ApplicationError):
    code = "mfa_challenge_invalid"
    status_code = 400
    default_message = "This sign-in attempt has expired. Sign in again."


class InvalidMfaCode(ApplicationError):
    code = "invalid_mfa_code"
    status_code = 400
    default_message = "The authentication code is incorrect or was already used."


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    default_message = "Two-factor sign-in is already enabled."


class MfaNotEnabled(ApplicationError):
    code = "mfa_not_enabled"
    status_code = 400
    default_message = "Two-factor sign-in is not enabled (or its setup was not started)."
