"""Mounted at /api/v1/auth/."""

from django.urls import path

from appauth import apis, apis_invitations, apis_mfa, apis_social
from appauth.social import views as social_views

app_name = "appauth"

urlpatterns = [
    path("register/", apis.RegisterApi.as_view(), name="register"),
    path("login/", apis.LoginApi.as_view(), name="login"),
    path("login/google/", apis.GoogleLoginApi.as_view(), name="login-google"),
    path("logout/", apis.LogoutApi.as_view(), name="logout"),
    path("logout-all/", apis.LogoutAllApi.as_view(), name="logout-all"),
    path("profile/", apis.ProfileApi.as_view(), name="profile"),
    path("verify-email/", apis.VerifyEmailApi.as_view(), name="verify-email"),
    path("verify-email/resend/", apis.VerifyEmailResendApi.as_view(), name="verify-email-resend"),
    path("email/change/", apis.EmailChangeApi.as_view(), name="email-change"),
    path("email/change/confirm/", apis.EmailChangeConfirmApi.as_view(), name="email-change-confirm"),
    path("password/reset/", apis.PasswordResetApi.as_view(), name="password-reset"),
    path("password/reset/confirm/", apis.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
    path("password/change/", apis.PasswordChangeApi.as_view(), name="password-change"),
    path("tokens/", apis.TokenListApi.as_view(), name="tokens"),
    path("tokens/<uuid:token_id>/", apis.TokenRevokeApi.as_view(), name="token-revoke"),
    path("account/", apis.AccountApi.as_view(), name="account"),
    path("login/2fa/", apis_mfa.SecondFactorLoginApi.as_view(), name="login-2fa"),
    path("social/providers/", apis_social.SocialProvidersApi.as_view(), name="social-providers"),
    path("social/exchange/", apis_social.SocialExchangeApi.as_view(), name="social-exchange"),
    # Browser redirects (not API operations, so not in the schema).
    path("social/<str:backend>/begin/", social_views.social_begin, name="social-begin"),
    path("social/<str:backend>/complete/", social_views.social_complete, name="social-complete"),
    path("identities/", apis_social.IdentityListApi.as_view(), name="identities"),
    path("identities/<int:identity_id>/", apis_social.IdentityUnlinkApi.as_view(), name="identity-unlink"),
    path("2fa/", apis_mfa.MfaStatusApi.as_view(), name="mfa-status"),
    path("2fa/totp/", apis_mfa.TotpEnrolApi.as_view(), name="mfa-totp-enrol"),
    path("2fa/totp/confirm/", apis_mfa.TotpConfirmApi.as_view(), name="mfa-totp-confirm"),
    path("2fa/disable/", apis_mfa.MfaDisableApi.as_view(), name="mfa-disable"),
    path("2fa/recovery-codes/", apis_mfa.RecoveryCodesApi.as_view(), name="mfa-recovery-codes"),
    path("invitations/", apis_invitations.InvitationListApi.as_view(), name="invitations"),
    path("invitations/<uuid:invitation_id>/", apis_invitations.InvitationRevokeApi.as_view(), name="invitation-revoke"),
]
