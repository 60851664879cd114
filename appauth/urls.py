"""Mounted at /api/v1/auth/."""

from django.urls import path

from appauth.apis import accounts, invitations, mfa, social
from appauth.social import views as social_views

app_name = "appauth"

urlpatterns = [
    path("register/", accounts.RegisterApi.as_view(), name="register"),
    path("login/", accounts.LoginApi.as_view(), name="login"),
    path("login/google/", accounts.GoogleLoginApi.as_view(), name="login-google"),
    path("logout/", accounts.LogoutApi.as_view(), name="logout"),
    path("logout-all/", accounts.LogoutAllApi.as_view(), name="logout-all"),
    path("profile/", accounts.ProfileApi.as_view(), name="profile"),
    path("verify-email/", accounts.VerifyEmailApi.as_view(), name="verify-email"),
    path("verify-email/resend/", accounts.VerifyEmailResendApi.as_view(), name="verify-email-resend"),
    path("email/change/", accounts.EmailChangeApi.as_view(), name="email-change"),
    path("email/change/confirm/", accounts.EmailChangeConfirmApi.as_view(), name="email-change-confirm"),
    path("password/reset/", accounts.PasswordResetApi.as_view(), name="password-reset"),
    path("password/reset/confirm/", accounts.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
    path("password/change/", accounts.PasswordChangeApi.as_view(), name="password-change"),
    path("tokens/", accounts.TokenListApi.as_view(), name="tokens"),
    path("tokens/<uuid:token_id>/", accounts.TokenRevokeApi.as_view(), name="token-revoke"),
    path("account/", accounts.AccountApi.as_view(), name="account"),
    path("login/2fa/", mfa.SecondFactorLoginApi.as_view(), name="login-2fa"),
    path("social/providers/", social.SocialProvidersApi.as_view(), name="social-providers"),
    path("social/exchange/", social.SocialExchangeApi.as_view(), name="social-exchange"),
    # Browser redirects (not API operations, so not in the schema).
    path("social/<str:backend>/begin/", social_views.social_begin, name="social-begin"),
    path("social/<str:backend>/complete/", social_views.social_complete, name="social-complete"),
    path("identities/", social.IdentityListApi.as_view(), name="identities"),
    path("identities/<int:identity_id>/", social.IdentityUnlinkApi.as_view(), name="identity-unlink"),
    path("2fa/", mfa.MfaStatusApi.as_view(), name="mfa-status"),
    path("2fa/totp/", mfa.TotpEnrolApi.as_view(), name="mfa-totp-enrol"),
    path("2fa/totp/confirm/", mfa.TotpConfirmApi.as_view(), name="mfa-totp-confirm"),
    path("2fa/disable/", mfa.MfaDisableApi.as_view(), name="mfa-disable"),
    path("2fa/recovery-codes/", mfa.RecoveryCodesApi.as_view(), name="mfa-recovery-codes"),
    path("invitations/", invitations.InvitationListApi.as_view(), name="invitations"),
    path("invitations/<uuid:invitation_id>/", invitations.InvitationRevokeApi.as_view(), name="invitation-revoke"),
]
