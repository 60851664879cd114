"""Account errors. Their `code` values are a public contract (clients branch on them)."""

from __future__ import annotations

from backend.errors import ApplicationError, Conflict, RateLimited


class InvalidCredentials(ApplicationError):
    """Wrong email or password, unknown or inactive account: deliberately indistinguishable."""

    code = "invalid_credentials"
    status_code = 400
    default_message = "The email address or password is incorrect."


class AccountLocked(RateLimited):
    """Too many failed logins for this email; answered for unknown emails alike. 429 + Retry-After."""

    code = "account_locked"
    default_message = "Too many failed sign-in attempts. Try again later or reset your password."


class InvalidLinkToken(ApplicationError):
    """An email verification or password reset link that is tampered, expired, used or foreign."""

    code = "invalid_token"
    status_code = 400
    default_message = "This link is invalid or has expired."


class InvalidPassword(ApplicationError):
    """The current password given for a sensitive action is wrong."""

    code = "invalid_password"
    status_code = 400
    default_message = "The current password is incorrect."


class ReauthenticationRequired(ApplicationError):
    code = "reauthentication_required"
    status_code = 400
    default_message = "Confirm this action with your password or a fresh Google sign-in."


class GoogleAccountConflict(Conflict):
    """The account with this email is already linked to a different Google account."""

    code = "google_account_conflict"
    default_message = "This email belongs to an account linked to a different Google account."


class GoogleEmailMissing(ApplicationError):
    code = "google_email_missing"
    status_code = 400
    default_message = "The Google account did not share an email address."


class GoogleEmailUnverified(ApplicationError):
    """Google has not verified the email: we neither create nor link an account by it."""

    code = "google_email_unverified"
    status_code = 400
    default_message = "Google has not verified this account's email address; sign in another way."
