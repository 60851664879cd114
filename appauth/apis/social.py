"""Account API: browser sign-in with providers (list, code exchange) and connected identities.

The browser redirects themselves (begin, complete) are plain views in `appauth.social.views`.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth import selectors, services
from appauth.apis.accounts import (
    AUTH_ERROR_RESPONSES,
    ERROR_RESPONSES,
    LOGIN_RESPONSES,
    TAGS,
    PublicApi,
    client_info,
    login_response,
)
from appauth.models import SocialIdentity
from appauth.serializers import LoginCodeInputSerializer, SocialIdentitySerializer, SocialProviderSerializer
from appauth.social import PROVIDERS
from appauth.social.strategy import enabled_backends
from backend.api.request import request_user, validated


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
        data = validated(LoginCodeInputSerializer, request.data)
        result = services.user_login_code_exchange(client=client_info(request), **data)
        return login_response(result, request)


class IdentityListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={200: SocialIdentitySerializer(many=True), 401: AUTH_ERROR_RESPONSES[401]},
        summary="My connected sign-in providers",
    )
    def get(self, request: Request) -> Response:
        return Response(SocialIdentitySerializer(selectors.identity_list(user=request_user(request)), many=True).data)


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
        services.identity_unlink(user=request_user(request), identity_id=identity_id, client=client_info(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
