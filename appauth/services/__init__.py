"""Writes of the accounts app. Plain functions with keyword-only arguments, one per use case."""

from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.email_change import email_change_confirm, email_change_request
from appauth.services.login import LoginResult, user_login, user_login_google, user_logout, user_logout_all
from appauth.services.passwords import password_change, password_reset_confirm, password_reset_request
from appauth.services.tokens import token_create, token_revoke, token_revoke_all
from appauth.services.users import (
    user_delete,
    user_profile_update,
    user_reauthenticate,
    user_register,
    user_verification_resend,
    user_verify_email,
)

__all__ = [
    "ClientInfo",
    "LoginResult",
    "auth_event_record",
    "email_change_confirm",
    "email_change_request",
    "password_change",
    "password_reset_confirm",
    "password_reset_request",
    "token_create",
    "token_revoke",
    "token_revoke_all",
    "user_delete",
    "user_login",
    "user_login_google",
    "user_logout",
    "user_logout_all",
    "user_profile_update",
    "user_reauthenticate",
    "user_register",
    "user_verification_resend",
    "user_verify_email",
]
