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

    # Provider sign-in, sign-up policy, two-factor sign-in
    SOCIAL_EMAIL_MISSING = "social_email_missing"
    SOCIAL_EMAIL_UNVERIFIED = "social_email_unverified"
    SOCIAL_ACCOUNT_CONFLICT = "social_account_conflict"
    SOCIAL_SIGN_IN_FAILED = "social_sign_in_failed"
    INVALID_LOGIN_CODE = "invalid_login_code"
    LAST_SIGN_IN_METHOD = "last_sign_in_method"
    ACCOUNT_PENDING_APPROVAL = "account_pending_approval"
    INVITATION_INVALID = "invitation_invalid"
    INVITATION_EXPIRED = "invitation_expired"
    SIGNUP_DOMAIN_NOT_ALLOWED = "signup_domain_not_allowed"
    MFA_CHALLENGE_INVALID = "mfa_challenge_invalid"
    INVALID_MFA_CODE = "invalid_mfa_code"
    MFA_ALREADY_ENABLED = "mfa_already_enabled"
    MFA_NOT_ENABLED = "mfa_not_enabled"
    # The admin sign-in form's second step (form error codes)
    MFA_LOCKED = "mfa_locked"
    INVALID_OTP = "invalid_otp"
    MFA_ENROLLMENT_REQUIRED = "mfa_enrollment_required"


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
    code = ErrorCode.SOCIAL_EMAIL_MISSING
    status_code = 400
    default_message = "The provider did not share an email address."


class SocialEmailUnverified(ApplicationError):
    """The provider has not verified the address: we neither create nor link an account by it."""

    code = ErrorCode.SOCIAL_EMAIL_UNVERIFIED
    status_code = 400
    default_message = "The provider has not verified this account's email address; sign in another way."


class SocialAccountConflict(Conflict):
    code = ErrorCode.SOCIAL_ACCOUNT_CONFLICT
    default_message = "This email belongs to an account linked to a different account at this provider."


class SocialSignInFailed(ApplicationError):
    """The provider refused or the browser flow was tampered with (state, code)."""

    code = ErrorCode.SOCIAL_SIGN_IN_FAILED
    status_code = 400
    default_message = "Sign-in with the provider failed. Try again."


class InvalidLoginCode(ApplicationError):
    code = ErrorCode.INVALID_LOGIN_CODE
    status_code = 400
    default_message = "This sign-in code is invalid, used or expired. Sign in again."


class LastSignInMethod(Conflict):
    code = ErrorCode.LAST_SIGN_IN_METHOD
    default_message = "This is your only way to sign in: set a password or connect another provider first."


class AccountPendingApproval(ApplicationError):
    code = ErrorCode.ACCOUNT_PENDING_APPROVAL
    status_code = 403
    default_message = "Your account is waiting for approval by an administrator."


class InvitationInvalid(ApplicationError):
    code = ErrorCode.INVITATION_INVALID
    status_code = 400
    default_message = "Sign-up is by invitation only, and this invitation is not valid."


class InvitationExpired(ApplicationError):
    code = ErrorCode.INVITATION_EXPIRED
    status_code = 400
    default_message = "This invitation has expired. Ask for a new one."


class SignupDomainNotAllowed(ApplicationError):
    code = ErrorCode.SIGNUP_DOMAIN_NOT_ALLOWED
    status_code = 400
    default_message = "Sign-up is not open to addresses of this domain."


class MfaChallengeInvalid(ApplicationError):
    code = ErrorCode.MFA_CHALLENGE_INVALID
    status_code = 400
    default_message = "This sign-in attempt has expired. Sign in again."


class InvalidMfaCode(ApplicationError):
    code = ErrorCode.INVALID_MFA_CODE
    status_code = 400
    default_message = "The authentication code is incorrect or was already used."


class MfaAlreadyEnabled(Conflict):
    code = ErrorCode.MFA_ALREADY_ENABLED
    default_message = "Two-factor sign-in is already enabled."


class MfaNotEnabled(ApplicationError):
    code = ErrorCode.MFA_NOT_ENABLED
    status_code = 400
    default_message = "Two-factor sign-in is not enabled (or its setup was not started)."
