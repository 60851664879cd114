"""The account API: thin views that validate, call one service or selector, and render.

Public endpoints (register, login, links…) take no authentication at all, so a stale or
broken `Authorization` header can never turn a login into a 401, and they answer the same
for existing and unknown accounts. Per-IP throttles (`ClientIPThrottle`) guard them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import logout as session_logout
from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth import selectors, services
from appauth.models import AuthToken
from appauth.serializers import (
    AccountDeleteInputSerializer,
    DetailSerializer,
    EmailChangeConfirmInputSerializer,
    EmailChangeInputSerializer,
    EmailInputSerializer,
    GoogleLoginInputSerializer,
    LinkTokenInputSerializer,
    LoginInputSerializer,
    LoginOutputSerializer,
    MfaChallengeOutputSerializer,
    PasswordChangeInputSerializer,
    PasswordResetConfirmInputSerializer,
    ProfileUpdateInputSerializer,
    RegisterInputSerializer,
    TokenSerializer,
    UserSerializer,
)
from appauth.throttling import ClientIPThrottle
from backend.api.parsers import JSONParser
from backend.api.request import request_user, validated
from backend.api.schema import error_responses
from backend.api.throttling import UploadThrottle
from backend.net import client_ip, user_agent

TAGS = ["auth"]
ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    **error_responses(400),
    429: OpenApiResponse(description="Rate limited or account locked (`Retry-After` header)."),
}
AUTH_ERROR_RESPONSES: dict[int, OpenApiResponse] = {**ERROR_RESPONSES, **error_responses(401)}
ACCEPTED = "If the address can be used, we have sent an email with the next step."


def client_info(request: Request) -> services.ClientInfo:
    return services.ClientInfo(ip=client_ip(request._request), user_agent=user_agent(request._request))


def _current_token(request: Request) -> AuthToken | None:
    return request.auth if isinstance(request.auth, AuthToken) else None


def _accepted() -> Response:
    return Response({"detail": ACCEPTED}, status=status.HTTP_202_ACCEPTED)


def login_response(result: services.LoginResult | services.MfaChallenge, request: Request) -> Response:
    """200 with the token, or 202 with a challenge when the second factor is still due."""
    if isinstance(result, services.MfaChallenge):
        challenge = {
            "mfa_required": True,
            "challenge": result.challenge,
            "expires_in": result.expires_in,
            "methods": ["totp", "recovery_code"],
        }
        return Response(MfaChallengeOutputSerializer(challenge).data, status=status.HTTP_202_ACCEPTED)
    data = {"token": result.token, "expiry": result.auth_token.expiry, "user": result.user}
    return Response(LoginOutputSerializer(data, context={"request": request}).data)


LOGIN_RESPONSES: dict[int, Any] = {
    200: LoginOutputSerializer,
    202: OpenApiResponse(
        response=MfaChallengeOutputSerializer,
        description="Two-factor sign-in is on: finish with `POST /api/v1/auth/login/2fa/`.",
    ),
}


class PublicApi(APIView):
    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientIPThrottle]


class RegisterApi(PublicApi):
    throttle_scope = "register_ip"

    @extend_schema(
        tags=TAGS,
        request=RegisterInputSerializer,
        responses={202: DetailSerializer, **ERROR_RESPONSES},
        summary="Register with email and password",
        description=(
            "Always 202 with the same body, whether or not the email is taken (the owner is mailed). "
            "The sign-up policy may refuse first: `invitation_invalid`, `invitation_expired`, "
            "`signup_domain_not_allowed` (400)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(RegisterInputSerializer, request.data)
        services.user_register(client=client_info(request), **data)
        return _accepted()


class LoginApi(PublicApi):
    throttle_scope = "login_ip"

    @extend_schema(
        tags=TAGS,
        request=LoginInputSerializer,
        responses={
            **LOGIN_RESPONSES,
            403: OpenApiResponse(description="`account_pending_approval` (right password, not yet approved)."),
            **ERROR_RESPONSES,
        },
        summary="Log in with email and password",
        description=(
            "Returns a new token. `invalid_credentials` (400) for any wrong email/password; "
            "`account_locked` (429 + Retry-After) after repeated failures. Unverified accounts may "
            "log in: see `user.email_verified`."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(LoginInputSerializer, request.data)
        result = services.user_login(client=client_info(request), **data)
        return login_response(result, request)


class GoogleLoginApi(PublicApi):
    throttle_scope = "google_login_ip"

    @extend_schema(
        tags=TAGS,
        request=GoogleLoginInputSerializer,
        responses={
            **LOGIN_RESPONSES,
            403: OpenApiResponse(description="`account_pending_approval`."),
            409: OpenApiResponse(description="Address linked to another Google account."),
            503: OpenApiResponse(description="Google unreachable."),
            **ERROR_RESPONSES,
        },
        summary="Sign in (or up) with a Google id_token (web, Android, iOS)",
    )
    def post(self, request: Request) -> Response:
        data = validated(GoogleLoginInputSerializer, request.data)
        result = services.user_login_google(client=client_info(request), **data)
        return login_response(result, request)


class VerifyEmailApi(PublicApi):
    throttle_scope = "verify_email_ip"

    @extend_schema(
        tags=TAGS,
        request=LinkTokenInputSerializer,
        responses={200: DetailSerializer, **ERROR_RESPONSES},
        summary="Confirm an email address with the uid and token from the emailed link",
    )
    def post(self, request: Request) -> Response:
        data = validated(LinkTokenInputSerializer, request.data)
        services.user_verify_email(uidb64=data["uid"], token=data["token"], client=client_info(request))
        return Response({"detail": "Email address verified."})


class VerifyEmailResendApi(PublicApi):
    throttle_scope = "resend_verification_ip"

    @extend_schema(
        tags=TAGS,
        request=EmailInputSerializer,
        responses={202: DetailSerializer, **ERROR_RESPONSES},
        summary="Send the verification email again (same answer for any address)",
    )
    def post(self, request: Request) -> Response:
        data = validated(EmailInputSerializer, request.data)
        services.user_verification_resend(email=data["email"], client=client_info(request))
        return _accepted()


class PasswordResetApi(PublicApi):
    throttle_scope = "password_reset_ip"

    @extend_schema(
        tags=TAGS,
        request=EmailInputSerializer,
        responses={202: DetailSerializer, **ERROR_RESPONSES},
        summary="Request a password reset email (same answer for any address)",
    )
    def post(self, request: Request) -> Response:
        data = validated(EmailInputSerializer, request.data)
        services.password_reset_request(email=data["email"], client=client_info(request))
        return _accepted()


class PasswordResetConfirmApi(PublicApi):
    throttle_scope = "password_reset_confirm_ip"

    @extend_schema(
        tags=TAGS,
        request=PasswordResetConfirmInputSerializer,
        responses={200: DetailSerializer, **ERROR_RESPONSES},
        summary="Set a new password with the uid and token from the emailed link",
        description="Revokes every token; does not log in.",
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordResetConfirmInputSerializer, request.data)
        services.password_reset_confirm(
            uidb64=data["uid"], token=data["token"], new_password=data["new_password"], client=client_info(request)
        )
        return Response({"detail": "Password has been reset. Log in with the new password."})


class PasswordChangeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=PasswordChangeInputSerializer,
        responses={200: DetailSerializer, **AUTH_ERROR_RESPONSES},
        summary="Change the password (current password required); revokes all other tokens",
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordChangeInputSerializer, request.data)
        user = request_user(request)
        services.password_change(user=user, keep_token=_current_token(request), client=client_info(request), **data)
        if _current_token(request) is None:  # a browser session stays signed in
            update_session_auth_hash(request._request, user)
        return Response({"detail": "Password changed."})


class LogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, request=None, responses={204: None, 401: AUTH_ERROR_RESPONSES[401]}, summary="Log out")
    def post(self, request: Request) -> Response:
        services.user_logout(
            user=request_user(request), auth_token=_current_token(request), client=client_info(request)
        )
        if _current_token(request) is None:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS, request=None, responses={204: None, 401: AUTH_ERROR_RESPONSES[401]}, summary="Log out everywhere"
    )
    def post(self, request: Request) -> Response:
        services.user_logout_all(user=request_user(request), client=client_info(request))
        if _current_token(request) is None:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, MultiPartParser]
    throttle_classes = [UploadThrottle]

    @extend_schema(tags=TAGS, responses={200: UserSerializer, 401: AUTH_ERROR_RESPONSES[401]}, summary="My profile")
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request_user(request), context={"request": request}).data)

    @extend_schema(
        tags=TAGS,
        request={
            "application/json": ProfileUpdateInputSerializer,
            "multipart/form-data": ProfileUpdateInputSerializer,
        },
        responses={
            200: UserSerializer,
            413: OpenApiResponse(description="Avatar too large."),
            **AUTH_ERROR_RESPONSES,
            429: OpenApiResponse(description="`rate_limited`: over `UPLOAD_RATE_USER` uploads (Retry-After)."),
        },
        summary="Update names and avatar (avatar: null removes it)",
    )
    def patch(self, request: Request) -> Response:
        data = validated(ProfileUpdateInputSerializer, request.data)
        avatar = data.pop("avatar", None)
        remove_avatar = "avatar" in request.data and avatar is None
        user = services.user_profile_update(
            user=request_user(request), client=client_info(request), avatar=avatar, remove_avatar=remove_avatar, **data
        )
        return Response(UserSerializer(user, context={"request": request}).data)


class EmailChangeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=EmailChangeInputSerializer,
        responses={202: DetailSerializer, **AUTH_ERROR_RESPONSES},
        summary="Ask to change my email (password, or a Google id_token for Google-only accounts)",
        description="Mails a confirmation link to the new address; the current one stays in use until then.",
    )
    def post(self, request: Request) -> Response:
        data = validated(EmailChangeInputSerializer, request.data)
        services.email_change_request(
            user=request_user(request),
            client=client_info(request),
            new_email=data["new_email"],
            password=data.get("password"),
            google_id_token=data.get("id_token"),
        )
        return _accepted()


class EmailChangeConfirmApi(PublicApi):
    throttle_scope = "verify_email_ip"

    @extend_schema(
        tags=TAGS,
        request=EmailChangeConfirmInputSerializer,
        responses={200: DetailSerializer, 409: OpenApiResponse(description="Address taken."), **ERROR_RESPONSES},
        summary="Confirm a new email address with the token from the emailed link",
    )
    def post(self, request: Request) -> Response:
        data = validated(EmailChangeConfirmInputSerializer, request.data)
        services.email_change_confirm(token=data["token"], client=client_info(request))
        return Response({"detail": "Email address changed."})


class TokenListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={200: TokenSerializer(many=True), 401: AUTH_ERROR_RESPONSES[401]},
        summary="My live tokens (devices)",
    )
    def get(self, request: Request) -> Response:
        tokens = selectors.token_list(user=request_user(request))
        current = _current_token(request)
        context = {"current_token_id": current.pk if current else None}
        return Response(TokenSerializer(tokens, many=True, context=context).data)


class TokenRevokeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={
            204: None,
            404: OpenApiResponse(description="Not one of my tokens."),
            401: AUTH_ERROR_RESPONSES[401],
        },
        summary="Revoke one of my tokens",
    )
    def delete(self, request: Request, token_id: uuid.UUID) -> Response:
        services.token_revoke(user=request_user(request), token_id=token_id, client=client_info(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=AccountDeleteInputSerializer,
        responses={204: None, **AUTH_ERROR_RESPONSES},
        summary="Delete my account (password, or a fresh Google id_token for Google-only accounts)",
    )
    def delete(self, request: Request) -> Response:
        data = validated(AccountDeleteInputSerializer, request.data)
        services.user_delete(
            user=request_user(request),
            client=client_info(request),
            password=data.get("password"),
            google_id_token=data.get("id_token"),
        )
        if _current_token(request) is None:
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
