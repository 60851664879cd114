"""Shared chats: the owner's API (create, list, revoke) and the public side (JSON, page, attachments).

The public endpoints need no account: the link's token is the capability. They answer
without the owner's identity, with `X-Robots-Tag: noindex` and `Referrer-Policy: no-referrer`
(the token is in the URL), and with a per-IP rate limit. A revoked or expired link answers
410 (`share_revoked`, `share_expired`); an unknown one 404 (`share_not_found`).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from backend import ratelimit
from backend.api.pagination import NewestFirstPagination, PaginatedApi
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from backend.errors import ApplicationError, RateLimited
from backend.net import client_ip
from backend.storage import MEDIA_CSP, media_headers
from chat.models import Attachment, ChatShare
from chat.selectors import chats as chat_selectors
from chat.selectors import shares as selectors
from chat.serializers.shares import (
    CreatedShareSerializer,
    ShareCreateInputSerializer,
    SharedChatSerializer,
    ShareListQuerySerializer,
    ShareSerializer,
)
from chat.services import shares as services

TAGS = ["chat sharing"]
PUBLIC_TAGS = ["shared chats (public)"]
ROBOTS = "noindex, nofollow, noarchive"
LANGUAGE_CODES = ("en", "de", "fr")
GONE = OpenApiResponse(description="The owner revoked the link (`share_revoked`) or it expired (`share_expired`).")


# --- Owner API ------------------------------------------------------------------------------------------------


def _created(request: Request, created: services.CreatedShare) -> dict[str, Any]:
    token = created.token
    return {
        **ShareSerializer(created.share).data,
        "token": token,
        "url": request.build_absolute_uri(reverse("chat-shared-page", args=[token])),
        "api_url": request.build_absolute_uri(reverse("chat-shared", args=[token])),
    }


class ShareListApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[ShareListQuerySerializer],
        responses={200: ShareSerializer(many=True), **ERRORS},
        summary="Your shared links, newest first",
        description="The tokens are not listed (only their first characters): a link is shown once, at creation.",
    )
    def get(self, request: Request) -> Response:
        query = validated(ShareListQuerySerializer, request.query_params)
        shares = selectors.shares_list(user=request_user(request), chat_id=query.get("chat"))
        return self.paginated(request, shares, ShareSerializer)

    @extend_schema(
        tags=TAGS,
        request=ShareCreateInputSerializer,
        responses={
            201: CreatedShareSerializer,
            **ERRORS,
            404: OpenApiResponse(description="`chat_not_found` (or another user's chat)."),
        },
        summary="Share a chat as a read-only snapshot",
        description=(
            "Freezes the chat's active branch as it is now (later edits are not shared) behind an unguessable "
            "link. The snapshot carries no owner identity, system prompt or project; files only with "
            "`include_attachments`. 400 `nothing_to_share` for a chat without messages."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(ShareCreateInputSerializer, request.data)
        user = request_user(request)
        chat = chat_selectors.chat_get(user=user, chat_id=data["chat_id"])
        days = data.get("expires_in_days") or settings.CHAT_SHARE_DEFAULT_EXPIRY_DAYS
        expires_at = timezone.now() + timedelta(days=days) if days else None
        created = services.share_create(
            user=user, chat=chat, include_attachments=data["include_attachments"], expires_at=expires_at
        )
        return Response(_created(request, created), status=status.HTTP_201_CREATED)


class ShareDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: ShareSerializer, **ERRORS}, summary="One of your shared links")
    def get(self, request: Request, share_id: UUID) -> Response:
        return Response(ShareSerializer(selectors.share_get(user=request_user(request), share_id=share_id)).data)

    @extend_schema(
        tags=TAGS,
        responses={200: ShareSerializer, **ERRORS},
        summary="Revoke a shared link",
        description="The link stops working at once (410 `share_revoked`); revoking again changes nothing.",
    )
    def delete(self, request: Request, share_id: UUID) -> Response:
        share = services.share_revoke(user=request_user(request), share_id=share_id)
        return Response(ShareSerializer(share).data)


# --- Public side ------------------------------------------------------------------------------------------------


class SharedReadThrottle(BaseThrottle):
    """`CHAT_SHARE_RATE_IP` reads of shared chats per client IP (429 + Retry-After)."""

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        decision = ratelimit.hit("chat_share_ip", client_ip(request._request), settings.CHAT_SHARE_RATE_IP)
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return float(self._wait) if self._wait else None


def _attachment_url(request: HttpRequest, token: str) -> Any:
    def url(share: ChatShare, attachment: dict[str, Any]) -> str:
        signature = selectors.shared_attachment_signature(share=share, attachment_id=attachment["id"])
        path = reverse("chat-shared-attachment", args=[token, attachment["id"]])
        return request.build_absolute_uri(f"{path}?s={signature}")

    return url


def _public_headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = ROBOTS
    response["Referrer-Policy"] = "no-referrer"
    return response


class PublicApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [SharedReadThrottle]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        return _public_headers(super().finalize_response(request, response, *args, **kwargs))


class SharedChatApi(PublicApi):
    @extend_schema(
        tags=PUBLIC_TAGS,
        auth=[],
        responses={200: SharedChatSerializer, 404: OpenApiResponse(description="`share_not_found`."), 410: GONE},
        summary="A shared chat (no account needed)",
        description="The snapshot behind a share link, without the owner's identity.",
    )
    def get(self, request: Request, token: str) -> Response:
        share = selectors.shared_get(token=token)
        document = selectors.shared_document(share=share, attachment_url=_attachment_url(request, token))
        return Response(SharedChatSerializer(document).data)


class SharedAttachmentApi(PublicApi):
    @extend_schema(
        tags=PUBLIC_TAGS,
        auth=[],
        parameters=[OpenApiParameter("s", str, required=True, description="The signature of the download URL.")],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
            404: OpenApiResponse(description="Not shared, unknown, or the signed URL is invalid or expired."),
            410: GONE,
        },
        summary="A file of a shared chat (signed URL)",
    )
    def get(self, request: Request, token: str, attachment_id: UUID) -> FileResponse:
        attachment = selectors.shared_attachment_get(
            token=token, attachment_id=attachment_id, signature=request.query_params.get("s", "")
        )
        return _file_response(attachment)


def _file_response(attachment: Attachment) -> FileResponse:
    response = FileResponse(attachment.file.open("rb"))
    for header, value in media_headers(str(attachment.file.name)).items():
        response[header] = value
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_CSP
    return response


# --- The read-only page -----------------------------------------------------------------------------------------


def _language(request: HttpRequest) -> str:
    requested = request.GET.get("lang")
    if requested in LANGUAGE_CODES:
        return str(requested)
    preferred = translation.get_language_from_request(request)[:2]
    return preferred if preferred in LANGUAGE_CODES else "en"


@require_GET
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """`/shared/{token}/`: the snapshot as a minimal page (escaped text, no script), or why it is gone."""
    language = _language(request)
    nonce = secrets.token_urlsafe(16)
    context: dict[str, Any] = {"language": language, "nonce": nonce, "token": token}
    status_code = 200
    decision = ratelimit.hit("chat_share_ip", client_ip(request), settings.CHAT_SHARE_RATE_IP)
    try:
        if not decision.allowed:
            raise RateLimited(retry_after=decision.retry_after)
        share = selectors.shared_get(token=token)
        context["shared"] = selectors.shared_document(share=share, attachment_url=_attachment_url(request, token))
    except ApplicationError as error:
        status_code, context["error_code"] = error.status_code, error.code
    with translation.override(language):
        html = render_to_string("chat/shared.html", context)
    response = _public_headers(HttpResponse(html, status=status_code))
    response["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    response["Cache-Control"] = "no-store"
    response["Content-Language"] = language
    if not decision.allowed:
        response["Retry-After"] = str(decision.retry_after)
    return response
