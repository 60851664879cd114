"""Admin forms: the email-keyed user model (Django's defaults are bound to auth.User) and the sign-in."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from appauth.errors import ErrorCode
from appauth.models import AppUser, normalize_email_address
from appauth.services.mfa import mfa_enabled, mfa_enrollment_required, mfa_lockout, recovery_code_use, totp_verify


class AppUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = AppUser
        fields = ("email",)

    def clean_email(self) -> str:
        email = normalize_email_address(self.cleaned_data["email"])
        if AppUser.objects.filter(email=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class AppUserChangeForm(UserChangeForm):
    class Meta:
        model = AppUser
        fields = "__all__"


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in, with the second factor for accounts that use two-factor sign-in.

    Staff who must enrol (`AUTH_MFA_REQUIRED_FOR_STAFF`) are refused until they have.
    """

    otp_code = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=40,
        help_text=_("From your authenticator app, or a recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def confirm_login_allowed(self, user: AppUser) -> None:
        super().confirm_login_allowed(user)
        if mfa_enabled(user=user):
            # The second step's lockout counts here as in the API: no unlimited guessing of codes.
            lockout = mfa_lockout()
            if lockout.reserve(str(user.pk)):
                raise ValidationError(_("Too many wrong codes. Try again later."), code=ErrorCode.MFA_LOCKED)
            code = (self.cleaned_data.get("otp_code") or "").strip()
            ok = bool(code) and (
                totp_verify(user=user, code=code) if code.isdigit() else recovery_code_use(user=user, code=code)
            )
            if not ok:
                lockout.register_failure(str(user.pk), reserved=True)
                raise ValidationError(_("Enter a valid authentication code."), code=ErrorCode.INVALID_OTP)
            lockout.clear(str(user.pk), forget_history=True)
        elif mfa_enrollment_required(user=user):
            raise ValidationError(
                _("Staff accounts must use two-factor sign-in. Set it up in your account settings first."),
                code=ErrorCode.MFA_ENROLLMENT_REQUIRED,
            )
