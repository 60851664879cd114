"""Account API: two-factor sign-in (the second sign-in step, enrolment and management)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth import services
from appauth.apis.accounts import (
    AUTH_ERROR_RESPONSES,
    ERROR_RESPONSES,
    PublicApi,
    client_info,
    login_response,
)
from appauth.serializers import (
    LoginOutputSerializer,
    MfaCodeReauthInputSerializer,
    MfaStatusSerializer,
    ReauthInputSerializer,
    RecoveryCodesOutputSerializer,
    SecondFactorInputSerializer,
    TotpConfirmInputSerializer,
    TotpEnrolOutputSerializer,
)
from backend.api.request import request_user, validated

MFA_TAGS = ["auth: two-factor"]


class SecondFactorLoginApi(PublicApi):
    throttle_scope = "mfa_ip"

    @extend_schema(
        tags=MFA_TAGS,
        request=SecondFactorInputSerializer,
        responses={200: LoginOutputSerializer, **ERROR_RESPONSES},
        summary="Finish a sign-in with a TOTP code or a recovery code",
        description=(
            "`mfa_challenge_invalid` (400: unknown, expired or used challenge), `invalid_mfa_code` (400: wrong "
            "or replayed code, used recovery code), `account_locked` (429 + Retry-After after repeated failures)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(SecondFactorInputSerializer, request.data)
        result = services.user_login_second_factor(
            challenge=data["challenge"],
            code=data.get("code") or None,
            recovery_code=data.get("recovery_code") or None,
            client=client_info(request),
        )
        return login_response(result, request)


class MfaStatusApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=MFA_TAGS,
        responses={200: MfaStatusSerializer, 401: AUTH_ERROR_RESPONSES[401]},
        summary="My two-factor sign-in: on or off, recovery codes left, whether I must enrol",
    )
    def get(self, request: Request) -> Response:
        return Response(MfaStatusSerializer(services.mfa_status(user=request_user(request))).data)


class TotpEnrolApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=MFA_TAGS,
        request=ReauthInputSerializer,
        responses={
            200: TotpEnrolOutputSerializer,
            409: OpenApiResponse(description="`mfa_already_enabled`."),
            **AUTH_ERROR_RESPONSES,
        },
        summary="Start enrolling an authenticator app (password, or Google id_token, required)",
        description="Show `otpauth_uri` as a QR code; then confirm with a first code.",
    )
    def post(self, request: Request) -> Response:
        data = validated(ReauthInputSerializer, request.data)
        secret, uri = services.totp_enrol(
            user=request_user(request),
            client=client_info(request),
            password=data.get("password"),
            google_id_token=data.get("id_token"),
        )
        return Response(TotpEnrolOutputSerializer({"secret": secret, "otpauth_uri": uri}).data)


class TotpConfirmApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=MFA_TAGS,
        request=TotpConfirmInputSerializer,
        responses={200: RecoveryCodesOutputSerializer, **AUTH_ERROR_RESPONSES},
        summary="Confirm the authenticator app with a first code; returns the recovery codes (shown once)",
    )
    def post(self, request: Request) -> Response:
        data = validated(TotpConfirmInputSerializer, request.data)
        codes = services.totp_confirm(user=request_user(request), code=data["code"], client=client_info(request))
        return Response(RecoveryCodesOutputSerializer({"recovery_codes": codes}).data)


class MfaDisableApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=MFA_TAGS,
        request=MfaCodeReauthInputSerializer,
        responses={204: None, **AUTH_ERROR_RESPONSES},
        summary="Turn two-factor sign-in off (password or Google id_token, and a current code)",
    )
    def post(self, request: Request) -> Response:
        data = validated(MfaCodeReauthInputSerializer, request.data)
        services.mfa_disable(
            user=request_user(request),
            client=client_info(request),
            password=data.get("password"),
            google_id_token=data.get("id_token"),
            code=data.get("code") or None,
            recovery_code=data.get("recovery_code") or None,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoveryCodesApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=MFA_TAGS,
        request=MfaCodeReauthInputSerializer,
        responses={200: RecoveryCodesOutputSerializer, **AUTH_ERROR_RESPONSES},
        summary="Replace my recovery codes (password or Google id_token, and a current TOTP code)",
    )
    def post(self, request: Request) -> Response:
        data = validated(MfaCodeReauthInputSerializer, request.data)
        codes = services.recovery_codes_regenerate(
            user=request_user(request),
            client=client_info(request),
            password=data.get("password"),
            google_id_token=data.get("id_token"),
            code=data.get("code") or None,
        )
        return Response(RecoveryCodesOutputSerializer({"recovery_codes": codes}).data)
