"""Mounted at /api/v1/auth/."""

from django.urls import path

from appauth import apis

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
]
