"""Request and response shapes of the account API. Validation only: no saving here."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from appauth.models import AppUser, AuthToken, Invitation, SocialIdentity

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
    invitation = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", write_only=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class LoginInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = password_field()
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class GoogleLoginInputSerializer(serializers.Serializer):
    id_token = serializers.CharField(max_length=8192, write_only=True)
    invitation = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", write_only=True)
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


class MfaChallengeOutputSerializer(serializers.Serializer):
    """A sign-in whose second factor is still due: POST the challenge and a code to `login/2fa/`."""

    mfa_required = serializers.BooleanField()
    challenge = serializers.CharField()
    expires_in = serializers.IntegerField()
    methods = serializers.ListField(child=serializers.CharField())


class SecondFactorInputSerializer(serializers.Serializer):
    challenge = serializers.CharField(max_length=200, write_only=True)
    code = serializers.CharField(max_length=12, required=False, allow_blank=True, write_only=True)
    recovery_code = serializers.CharField(max_length=40, required=False, allow_blank=True, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("code")) == bool(attrs.get("recovery_code")):
            raise serializers.ValidationError("Give either `code` or `recovery_code`.")
        return attrs


class LoginCodeInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, write_only=True)
    device_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class SocialProviderSerializer(serializers.Serializer):
    provider = serializers.CharField()
    name = serializers.CharField()
    begin_url = serializers.CharField()


class SocialIdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = SocialIdentity
        fields = ["id", "provider", "email", "created_at", "last_login_at"]
        read_only_fields = fields


class ReauthInputSerializer(serializers.Serializer):
    password = password_field(required=False)
    id_token = serializers.CharField(max_length=8192, required=False, write_only=True)


class MfaCodeReauthInputSerializer(ReauthInputSerializer):
    code = serializers.CharField(max_length=12, required=False, allow_blank=True, write_only=True)
    recovery_code = serializers.CharField(max_length=40, required=False, allow_blank=True, write_only=True)


class TotpConfirmInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=12, write_only=True)


class TotpEnrolOutputSerializer(serializers.Serializer):
    secret = serializers.CharField()
    otpauth_uri = serializers.CharField()


class RecoveryCodesOutputSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField())


class MfaStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    recovery_codes_remaining = serializers.IntegerField()
    enrollment_required = serializers.BooleanField()


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "note", "created_at", "expires_at", "accepted_at", "status"]
        read_only_fields = fields

    def get_status(self, invitation: Invitation) -> str:
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.accepted_at is not None:
            return "accepted"
        if invitation.expires_at <= timezone.now():
            return "expired"
        return "pending"


class InvitationCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class InvitationCreatedSerializer(InvitationSerializer):
    """The created invitation with its code and link: shown this once, never stored."""

    code = serializers.CharField()
    link = serializers.CharField()

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "code", "link"]
        read_only_fields = fields
