"""Writes of the accounts app. Plain functions with keyword-only arguments, one per use case."""

from appauth.services.accounts import user_access_revoke, user_deactivate
from appauth.services.audit import ClientInfo, auth_event_record
from appauth.services.email_change import email_change_confirm, email_change_request
from appauth.services.identities import ProviderIdentity, identity_sign_in, identity_unlink, login_code_create
from appauth.services.login import (
    LoginResult,
    login_finish,
    user_login,
    user_login_code_exchange,
    user_login_google,
    user_login_second_factor,
    user_logout,
    user_logout_all,
)
from appauth.services.mfa import (
    MfaChallenge,
    mfa_disable,
    mfa_status,
    recovery_codes_regenerate,
    totp_confirm,
    totp_enrol,
)
from appauth.services.passwords import password_change, password_reset_confirm, password_reset_request
from appauth.services.signup import (
    invitation_create,
    invitation_issue,
    invitation_link,
    invitation_revoke,
    user_approve,
)
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
    "MfaChallenge",
    "ProviderIdentity",
    "auth_event_record",
    "email_change_confirm",
    "email_change_request",
    "identity_sign_in",
    "identity_unlink",
    "invitation_create",
    "invitation_issue",
    "invitation_link",
    "invitation_revoke",
    "login_code_create",
    "login_finish",
    "mfa_disable",
    "mfa_status",
    "password_change",
    "password_reset_confirm",
    "password_reset_request",
    "recovery_codes_regenerate",
    "token_create",
    "token_revoke",
    "token_revoke_all",
    "totp_confirm",
    "totp_enrol",
    "user_access_revoke",
    "user_approve",
    "user_deactivate",
    "user_delete",
    "user_login",
    "user_login_code_exchange",
    "user_login_google",
    "user_login_second_factor",
    "user_logout",
    "user_logout_all",
    "user_profile_update",
    "user_reauthenticate",
    "user_register",
    "user_verification_resend",
    "user_verify_email",
]
