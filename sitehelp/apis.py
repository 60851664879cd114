"""The widget's API under /api/v1/help/: anonymous sessions held by a signed token.

Clients send the token as `X-Help-Session`; no cookie is read or set, so there is no CSRF
surface. Every request's `Origin` (when a browser sends one) must be the app's own or one of
HELP_WIDGET_ALLOWED_ORIGINS. Sending a message answers with the shared engine's event stream
(docs/streaming.md): `message_start` {session_id, message_id, model}, `delta`, `snapshot`,
then `message_stop` or `error` {code, message, retryable, ...} with the help error codes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import translation
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import errors
from backend.api.pagination import OldestFirstPagination
from backend.api.request import validated
from backend.api.schema import error_responses
from backend.db import db_sync_to_async
from backend.net import client_ip
from backend.streaming import http
from backend.streaming.engine import Admission
from backend.streaming.schema import stream_responses
from sitehelp import selectors, strings
from sitehelp.models import HelpSession
from sitehelp.serializers import (
    CatalogueSerializer,
    ExportSerializer,
    FeedbackInputSerializer,
    FeedbackSerializer,
    MessageInputSerializer,
    MessagePageSerializer,
    MessageSerializer,
    SessionCreatedSerializer,
    SessionCreateInputSerializer,
)
from sitehelp.services import feedback, limits, sessions
from sitehelp.services.generation import engine, message_accept

TAGS = ["sitehelp"]
TOKEN_HEADER = "X-Help-Session"  # noqa: S105 - a header name
_TOKEN = OpenApiParameter(TOKEN_HEADER, str, OpenApiParameter.HEADER, required=True, description="The session token.")
_ERRORS = {
    **error_responses(400),
    401: OpenApiResponse(description="No, a bad or an expired token (`session_expired`: start a new session)."),
    403: OpenApiResponse(description="The page's origin may not use the widget (`origin_not_allowed`)."),
    404: OpenApiResponse(description="Unknown session, or a token of another session."),
}


def host_origin(request: HttpRequest) -> str:
    return limits.host_origin_of(scheme=request.scheme or "http", host=request.get_host())


def check_origin(request: HttpRequest) -> None:
    limits.origin_check(origin=request.headers.get("Origin", ""), host_origin=host_origin(request))


def session_of(request: HttpRequest, session_id: Any, *, active: bool) -> HelpSession:
    """The session the request's token holds (origin checked first)."""
    check_origin(request)
    return selectors.session_get(session_id=session_id, token=request.headers.get(TOKEN_HEADER, ""), active=active)


class HelpApi(APIView):
    """Anonymous: no authentication class runs (no cookie, no CSRF); the token is checked per view."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class SessionCreateApi(HelpApi):
    @extend_schema(
        operation_id="sitehelp_session_create",
        summary="Start a help session (when the visitor sends a first message)",
        request=SessionCreateInputSerializer,
        responses={
            201: SessionCreatedSerializer,
            400: _ERRORS[400],
            403: _ERRORS[403],
            429: OpenApiResponse(description="Too many sessions from this address (Retry-After)."),
        },
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        check_origin(request)
        data = validated(SessionCreateInputSerializer, request.data)
        issued = sessions.session_create(
            language=data["language"],
            consent_mode=data["consent_mode"],
            origin=request.headers.get("Origin", ""),
            ip=client_ip(request),
        )
        body = {
            "session_id": issued.session.id,
            "token": issued.token,
            "expires_at": issued.expires_at,
            "idle_timeout": settings.HELP_SESSION_IDLE_SECONDS,
        }
        return Response(SessionCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class SessionDeleteApi(HelpApi):
    @extend_schema(
        operation_id="sitehelp_session_delete",
        summary="Erase the session now, with its messages and feedback",
        parameters=[_TOKEN],
        request=None,
        responses={204: None, 401: _ERRORS[401], 403: _ERRORS[403], 404: _ERRORS[404]},
        tags=TAGS,
    )
    def delete(self, request: Request, session_id: UUID) -> Response:
        sessions.session_delete(session=session_of(request, session_id, active=False))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListDoc(HelpApi):
    """Documentation of GET and POST sessions/{id}/messages/ (dispatched by `messages`)."""

    @extend_schema(
        operation_id="sitehelp_message_list",
        summary="The session's messages, oldest first",
        parameters=[_TOKEN],
        responses={200: MessagePageSerializer, 401: _ERRORS[401], 403: _ERRORS[403], 404: _ERRORS[404]},
        tags=TAGS,
    )
    def get(self, request: Request, session_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError

    @extend_schema(
        operation_id="sitehelp_message_send",
        summary="Ask a question; the answer streams (SSE)",
        parameters=[_TOKEN],
        request=MessageInputSerializer,
        responses={
            **stream_responses(
                "Help",
                start={"session_id": serializers.UUIDField(), "message_id": serializers.UUIDField()},
                stop={"message_id": serializers.UUIDField()},
            ),
            **_ERRORS,
            409: OpenApiResponse(description="An answer of this session is still streaming (`turn_in_progress`)."),
            429: OpenApiResponse(description="Over the session's or the address's rate (Retry-After)."),
            503: OpenApiResponse(
                description="`no_provider`, `session_budget_exhausted`, `daily_cap_reached` or `shutting_down`."
            ),
        },
        tags=TAGS,
    )
    def post(self, request: Request, session_id: UUID) -> None:  # pragma: no cover - documentation only
        raise NotImplementedError


def _message_page(request: HttpRequest, session_id: UUID) -> HttpResponse:
    session = session_of(request, session_id, active=False)
    drf_request = Request(request)
    paginator = OldestFirstPagination()
    page = paginator.paginate_queryset(selectors.message_list(session=session), drf_request)
    response = paginator.get_paginated_response(MessageSerializer(page, many=True).data)
    return http.json_response(dict(response.data))


def _accept_message(request: HttpRequest, session_id: UUID) -> Admission:
    session = session_of(request, session_id, active=True)
    question = limits.question_check(validated(MessageInputSerializer, http.json_body(request))["content"])
    ip = client_ip(request)
    return engine.admit(user=None, accept=lambda: message_accept(session_id=session.id, question=question, ip=ip))


@http.documented("GET", "POST", doc=MessageListDoc)
async def messages(request: HttpRequest, session_id: UUID) -> HttpResponseBase:
    """GET: the session's messages; POST: ask, and stream the answer."""
    if request.method == "GET":
        return await db_sync_to_async(_message_page)(request, session_id)
    return await http.start_response(engine, lambda: _accept_message(request, session_id))


class FeedbackApi(HelpApi):
    @extend_schema(
        operation_id="sitehelp_feedback_submit",
        summary="Rate an answer (+1 or -1) with an optional comment",
        parameters=[_TOKEN],
        request=FeedbackInputSerializer,
        responses={
            200: FeedbackSerializer,
            **_ERRORS,
            409: OpenApiResponse(description="The answer is still streaming."),
        },
        tags=TAGS,
    )
    def post(self, request: Request, session_id: UUID) -> Response:
        session = session_of(request, session_id, active=False)
        data = validated(FeedbackInputSerializer, request.data)
        saved = feedback.feedback_submit(
            session=session, message_id=data["message_id"], rating=int(data["rating"]), comment=data["comment"]
        )
        return Response({"message_id": saved.message_id, "rating": saved.rating, "comment": saved.comment})


class ExportApi(HelpApi):
    @extend_schema(
        operation_id="sitehelp_session_export",
        summary="Everything stored about the session, as JSON (the visitor's copy)",
        parameters=[_TOKEN],
        responses={200: ExportSerializer, 401: _ERRORS[401], 403: _ERRORS[403], 404: _ERRORS[404]},
        tags=TAGS,
    )
    def get(self, request: Request, session_id: UUID) -> Response:
        export = selectors.session_export(session=session_of(request, session_id, active=False))
        response = Response(export)
        response["Content-Disposition"] = f'attachment; filename="help-conversation-{session_id}.json"'
        return response


class CatalogueApi(HelpApi):
    @extend_schema(
        operation_id="sitehelp_catalogue",
        summary="The widget's strings and error messages in one language, and its settings",
        responses={200: CatalogueSerializer, 404: _ERRORS[404]},
        tags=TAGS,
    )
    def get(self, request: Request, language: str) -> Response:
        if language not in ("en", "de", "fr"):
            raise errors.NotFound("No such language.")
        check_origin(request)
        with translation.override(language):
            body = {
                "language": language,
                **strings.catalogue(),
                "privacy_url": settings.HELP_PRIVACY_URL,
                "feedback_enabled": settings.HELP_FEEDBACK_ENABLED,
                "retention_days": settings.HELP_RETENTION_DAYS,
            }
        response = Response(body)
        response["Cache-Control"] = "public, max-age=300"
        return response
