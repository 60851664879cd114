"""Account API, continued: provider sign-in, connected identities, two-factor sign-in, invitations.

Same habits as `appauth.apis`: thin views that validate, call one service or selector, render.
"""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth import selectors, services
from appauth.apis import AUTH_ERROR_RESPONSES, ERROR_RESPONSES, LOGIN_RESPONSES, TAGS, PublicApi
from appauth.apis import _client as client_of
from appauth.apis import _login_response as login_response
from appauth.apis import _user as user_of
from appauth.apis import _valid as valid
from appauth.models import SocialIdentity
from appauth.serializers import (
    InvitationCreatedSerializer,
    InvitationCreateInputSerializer,
    InvitationSerializer,
    LoginCodeInputSerializer,
    LoginOutputSerializer,
    MfaCodeReauthInputSerializer,
    MfaStatusSerializer,
    ReauthInputSerializer,
    RecoveryCodesOutputSerializer,
    SecondFactorInputSerializer,
    SocialIdentitySerializer,
    SocialProviderSerializer,
    TotpConfirmInputSerializer,
    TotpEnrolOutputSerializer,
)
from appauth.social import PROVIDERS
from appauth.social.strategy import enabled_backends
from backend.api.pagination import DefaultCursorPagination

MFA_TAGS = ["auth: two-factor"]
STAFF_RESPONSES: dict[int, OpenApiResponse] = {
    **AUTH_ERROR_RESPONSES,
    403: OpenApiResponse(description="Staff only."),
}


# --- Provider sign-in ---------------------------------------------------------------------------


class SocialProvidersApi(PublicApi):
    throttle_scope = "social_ip"

    @extend_schema(
        tags=TAGS,
        responses={200: SocialProviderSerializer(many=True), 429: ERROR_RESPONSES[429]},
        summary="Sign-in providers configured on this server",
        description=(
            "Open `begin_url` in the browser (a top-level navigation; optional `?invitation=<code>`). "
            "It ends at the app's callback page with `?code=…`, exchanged at `social/exchange/`, or `?error=…`."
        ),
    )
    def get(self, request: Request) -> Response:
        labels = dict(SocialIdentity.Provider.choices)
        providers = [
            {
                "provider": PROVIDERS[name],
                "name": str(labels[PROVIDERS[name]]),
                "begin_url": request.build_absolute_uri(reverse("appauth:social-begin", args=[name])),
            }
            for name in enabled_backends()
            if name in PROVIDERS
        ]
        return Response(SocialProviderSerializer(providers, many=True).data)


class SocialExchangeApi(PublicApi):
    throttle_scope = "social_ip"

    @extend_schema(
        tags=TAGS,
        request=LoginCodeInputSerializer,
        responses={**LOGIN_RESPONSES, **ERROR_RESPONSES},
        summary="Exchange the one-time code of a browser sign-in for a token",
        description="Good once, for `AUTH_SOCIAL_LOGIN_CODE_SECONDS`; else `invalid_login_code` (400).",
    )
    def post(self, request: Request) -> Response:
        data = valid(LoginCodeInputSerializer, request)
        result = services.user_login_code_exchange(client=client_of(request), **data)
        return login_response(result, request)


class IdentityListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={200: SocialIdentitySerializer(many=True), 401: AUTH_ERROR_RESPONSES[401]},
        summary="My connected sign-in providers",
    )
    def get(self, request: Request) -> Response:
        return Response(SocialIdentitySerializer(selectors.identity_list(user=user_of(request)), many=True).data)


class IdentityUnlinkApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={
            204: None,
            404: OpenApiResponse(description="Not one of my identities."),
            409: OpenApiResponse(description="`last_sign_in_method`: set a password or connect another first."),
            401: AUTH_ERROR_RESPONSES[401],
        },
        summary="Disconnect a sign-in provider (never the last way to sign in)",
    )
    def delete(self, request: Request, identity_id: int) -> Response:
        services.identity_unlink(user=user_of(request), identity_id=identity_id, client=client_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Two-factor sign-in -------------------------------------------------------------------------


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
        data = valid(SecondFactorInputSerializer, request)
        result = services.user_login_second_factor(
            challenge=data["challenge"],
            code=data.get("code") or None,
            recovery_code=data.get("recovery_code") or None,
            client=client_of(request),
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
        return Response(MfaStatusSerializer(services.mfa_status(user=user_of(request))).data)


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
        data = valid(ReauthInputSerializer, request)
        secret, uri = services.totp_enrol(
            user=user_of(request),
            client=client_of(request),
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
        data = valid(TotpConfirmInputSerializer, request)
        codes = services.totp_confirm(user=user_of(request), code=data["code"], client=client_of(request))
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
        data = valid(MfaCodeReauthInputSerializer, request)
        services.mfa_disable(
            user=user_of(request),
            client=client_of(request),
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
        data = valid(MfaCodeReauthInputSerializer, request)
        codes = services.recovery_codes_regenerate(
            user=user_of(request),
            client=client_of(request),
            password=data.get("password"),
            google_id_token=data.get("id_token"),
            code=data.get("code") or None,
        )
        return Response(RecoveryCodesOutputSerializer({"recovery_codes": codes}).data)


# --- Invitations (staff) ------------------------------------------------------------------------


class InvitationListApi(APIView):
    permission_classes = [IsAdminUser]
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=TAGS,
        responses={200: InvitationSerializer(many=True), **STAFF_RESPONSES},
        summary="Invitations, newest first (staff)",
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.invitation_list(), request, view=self)
        return paginator.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=InvitationCreateInputSerializer,
        responses={201: InvitationCreatedSerializer, **STAFF_RESPONSES},
        summary="Invite someone to sign up (staff); the code and link are shown once",
    )
    def post(self, request: Request) -> Response:
        data = valid(InvitationCreateInputSerializer, request)
        invitation, code = services.invitation_create(created_by=user_of(request), client=client_of(request), **data)
        body = InvitationSerializer(invitation).data
        body.update({"code": code, "link": services.invitation_link(code)})
        return Response(body, status=status.HTTP_201_CREATED)


class InvitationRevokeApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=TAGS,
        responses={204: None, 404: OpenApiResponse(description="Unknown invitation."), **STAFF_RESPONSES},
        summary="Revoke an invitation (staff)",
    )
    def delete(self, request: Request, invitation_id: uuid.UUID) -> Response:
        services.invitation_revoke(invitation=selectors.invitation_get(invitation_id=invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
