"""Request and response shapes of the account API. Validation only: no saving here."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from appauth.models import AppUser, AuthToken

# Long enough for any passphrase (ASVS asks for >= 64), short enough to refuse abuse.
PASSWORD_MAX_LENGTH = 1024


def password_field(**kwargs: Any) -> serializers.CharField:
    """Passwords are taken exactly as typed: never trimmed, never truncated."""
    return serializers.CharField(
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        write_only=True,
        style={"input_type": "password"},
        **kwargs,
    )


class UserSerializer(serializers.ModelSerializer):
    avatar = serializers.ImageField(read_only=True, allow_null=True)
    has_password = serializers.SerializerMethodField()

    class Meta:
        model = AppUser
        fields = [
            "id",
            "email",
            "username",
            "first_name",
            "last_name",
            "avatar",
            "email_verified",
            "has_password",
            "date_joined",
            "last_login",
        ]
        read_only_fields = fields

    def get_has_password(self, user: AppUser) -> bool:
        return user.has_usable_password()


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class LoginInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class GoogleLoginInputSerializer(serializers.Serializer):
    id_token = serializers.CharField(max_length=8192, write_only=True)
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class LoginOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()
    user = UserSerializer()


class EmailInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class LinkTokenInputSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=64)


class PasswordResetConfirmInputSerializer(LinkTokenInputSerializer):
    new_password = password_field()


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field()


class ProfileUpdateInputSerializer(serializers.Serializer):
    """Only these are writable; anything else in the body (email, is_staff…) is ignored."""

    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    avatar = serializers.FileField(required=False, allow_null=True, max_length=255)


class AccountDeleteInputSerializer(serializers.Serializer):
    password = password_field(required=False)
    id_token = serializers.CharField(max_length=8192, required=False, write_only=True)


class EmailChangeInputSerializer(serializers.Serializer):
    new_email = serializers.EmailField(max_length=254)
    password = password_field(required=False)
    id_token = serializers.CharField(max_length=8192, required=False, write_only=True)


class EmailChangeConfirmInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2048)


class TokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = AuthToken
        fields = ["id", "device_name", "ip_address", "user_agent", "created", "last_used_at", "expiry", "current"]
        read_only_fields = fields

    def get_current(self, token: AuthToken) -> bool:
        current = self.context.get("current_token_id")
        return current is not None and token.pk == current
