"""Admin forms for the email-keyed user model (Django's defaults are bound to auth.User)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from appauth.models import AppUser, normalize_email_address


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
