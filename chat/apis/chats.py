"""Chats, their active branch and the turns (pairs) of the conversation tree.

Thin views: validate → one service or selector → render. Every id is looked up among the
requesting user's own rows, so another user's id is a 404.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse
from django.urls import get_script_prefix, get_urlconf, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth.models import AppUser
from backend.api.pagination import PaginatedApi, RankedCursorPagination, RecentlyUpdatedFirstPagination
from backend.api.request import request_user, validated, validated_query
from backend.api.schema import ERRORS
from backend.db import SqlGuard
from backend.errors import NotFound
from chat.errors import ErrorCode
from chat.models import Attachment, Chat
from chat.selectors import chats as selectors
from chat.selectors import pages
from chat.selectors.usage import UsageTotals, chat_usage_totals
from chat.serializers.attachments import attachment_download_url
from chat.serializers.chats import (
    BranchPageQuerySerializer,
    BranchPageSerializer,
    ChatCreateInputSerializer,
    ChatDetailSerializer,
    ChatListQuerySerializer,
    ChatListSerializer,
    ChatSearchQuerySerializer,
    ChatSearchResultSerializer,
    ChatSystemPromptInputSerializer,
    ChatTitleSerializer,
    ChatUpdateInputSerializer,
    PairStateSerializer,
    PairToggleInputSerializer,
    SiblingSerializer,
)
from chat.services import chats as services
from chat.services import titles

TAGS = ["chat"]


def chat_detail(chat: Chat, *, new: bool = False) -> dict[str, Any]:
    """The detail shape of `chat`, with its token totals (one aggregate query; none for a new chat)."""
    totals = UsageTotals() if new else chat_usage_totals(chat=chat)
    return dict(ChatDetailSerializer(chat, context={"usage": totals}).data)


def sql_pages() -> bool:
    """Whether list and history pages are rendered by the database (PostgreSQL, `CHAT_SQL_PAGES` on)."""
    return bool(settings.CHAT_SQL_PAGES) and pages.available()


def json_response(body: str) -> HttpResponse:
    """A 200 with JSON the database rendered (the same shape the serializers document)."""
    return HttpResponse(body.encode(), content_type="application/json")


@functools.lru_cache(maxsize=1024)
def _messages_path(chat_id: UUID, script_prefix: str, urlconf: str | None) -> str:
    """`reverse("chat-messages")` of a chat, kept for the prefix and URL configuration it was made with."""
    return reverse("chat-messages", kwargs={"chat_id": chat_id}, urlconf=urlconf)


def _branch_url(request: Request, chat_id: UUID, cursor: int | None, page_size: int) -> str | None:
    if cursor is None:
        return None
    path = _messages_path(chat_id, get_script_prefix(), get_urlconf())
    return request.build_absolute_uri(f"{path}?before={cursor}&page_size={page_size}")


def branch_response(request: Request, chat: Chat, *, before: int | None = None, page_size: int = 50) -> Response:
    page = selectors.branch_page(chat=chat, before=before, limit=page_size)

    def url(cursor: int | None) -> str | None:
        return _branch_url(request, chat.id, cursor, page_size)

    return Response(
        BranchPageSerializer(
            {
                "previous": url(page.previous_before),
                "next": url(page.next_before),
                "total": page.total,
                "turns": page.turns,
            },
            context={"request": request},
        ).data
    )


# --- the database-rendered pages (also served by `chat.apis.asgi_reads`, outside Django's stack) ----


def chat_list_json(request: Request, user: AppUser, guard: SqlGuard | None = None) -> str:
    """The body of `GET chats/` rendered by the database, with DRF's cursors (PostgreSQL).

    With `guard` (see `pages`), raises `backend.db.GuardFailed` when it does not hold.
    """
    query = validated_query(ChatListQuerySerializer, request.query_params)
    rows = pages.chat_list_rows(
        user_id=user.pk, archived=query["archived"], project_id=query.get("project"), guard=guard
    )
    paginator = RecentlyUpdatedFirstPagination()
    page = paginator.paginate_queryset(rows, request)  # type: ignore[arg-type]
    links = json.dumps({"next": paginator.get_next_link(), "previous": paginator.get_previous_link()})
    return f'{links[:-1]},"results":{pages.json_array(row["json"] for row in page or [])}}}'


def history_json(request: Request, user: AppUser, chat_id: UUID, guard: SqlGuard | None = None) -> str:
    """The body of `GET chats/{id}/messages/` rendered (or cached) by the database (PostgreSQL).

    Raises NotFound for another user's chat (before any 400 for bad parameters, as the ORM path),
    and when `guard` (see `pages`) does not hold.
    """
    try:
        query = validated_query(BranchPageQuerySerializer, request.query_params)
    except ValidationError:
        selectors.chat_get(user=user, chat_id=chat_id)  # another user's chat is a 404 before a 400
        raise
    before, page_size = query.get("before"), query["page_size"]
    page = pages.branch_page_json(user_id=user.pk, chat_id=chat_id, before=before, limit=page_size, guard=guard)
    if page is None:
        raise NotFound("Chat not found.", code=ErrorCode.CHAT_NOT_FOUND)
    turns = page.turns
    if page.has_attachments:
        turns = pages.with_download_urls(turns, lambda name: attachment_download_url(Attachment(file=name), request))
    envelope = json.dumps(
        {
            "previous": _branch_url(request, chat_id, page.previous_before, page_size),
            "next": _branch_url(request, chat_id, page.next_before, page_size),
            "total": page.total,
        }
    )
    return f'{envelope[:-1]},"results":{turns}}}'


# --- chats ---------------------------------------------------------------------------------------


class ChatListApi(PaginatedApi):
    @extend_schema(
        tags=TAGS,
        parameters=[ChatListQuerySerializer],
        responses={200: ChatListSerializer(many=True), **ERRORS},
        summary="List chats, newest activity first",
    )
    def get(self, request: Request) -> HttpResponse:
        user = request_user(request)
        if sql_pages():
            return json_response(chat_list_json(request, user))
        query = validated(ChatListQuerySerializer, request.query_params)
        chats = selectors.chat_list(user=user, archived=query["archived"], project_id=query.get("project"))
        return self.paginated(request, chats, ChatListSerializer)

    @extend_schema(
        tags=TAGS,
        request=ChatCreateInputSerializer,
        responses={201: ChatDetailSerializer, **ERRORS},
        summary="Create an empty chat",
        description=(
            "`model` must be a selectable alias (`unknown_model`); `project_id` and `saved_prompt_id` must be yours."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(ChatCreateInputSerializer, request.data)
        chat = services.chat_create(user=request_user(request), **data)
        return Response(chat_detail(chat, new=True), status=status.HTTP_201_CREATED)


class ChatDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: ChatDetailSerializer, **ERRORS}, summary="A chat with its token totals")
    def get(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        return Response(chat_detail(chat))

    @extend_schema(
        tags=TAGS,
        request=ChatUpdateInputSerializer,
        responses={200: ChatDetailSerializer, **ERRORS},
        summary="Rename, re-prompt, move or re-model a chat",
        description="A new `title` becomes the user's (`title_source=user`); `project_id: null` detaches it.",
    )
    def patch(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        changes = validated(ChatUpdateInputSerializer, request.data, partial=True)
        chat = services.chat_update(chat=chat, changes=changes)
        return Response(chat_detail(chat))

    @extend_schema(tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a chat and its messages")
    def delete(self, request: Request, chat_id: UUID) -> Response:
        services.chat_delete(chat=selectors.chat_get(user=request_user(request), chat_id=chat_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatArchiveApi(APIView):
    archived = True

    @extend_schema(tags=TAGS, request=None, responses={200: ChatDetailSerializer, **ERRORS}, summary="Archive a chat")
    def post(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        return Response(chat_detail(services.chat_set_archived(chat=chat, archived=self.archived)))


class ChatUnarchiveApi(ChatArchiveApi):
    archived = False

    @extend_schema(tags=TAGS, request=None, responses={200: ChatDetailSerializer, **ERRORS}, summary="Unarchive a chat")
    def post(self, request: Request, chat_id: UUID) -> Response:
        return super().post(request, chat_id)


class ChatSystemPromptApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=ChatSystemPromptInputSerializer,
        responses={200: ChatDetailSerializer, **ERRORS},
        summary="Set the chat's system prompt",
        description=(
            "`{saved_prompt_id}` uses a saved prompt (later edits to it apply); `{system_prompt}` sets the "
            "chat's own text; neither (or nulls) returns to the default prompt. Both → `ambiguous_system_prompt`."
        ),
    )
    def post(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        data = validated(ChatSystemPromptInputSerializer, request.data)
        chat = services.chat_set_system_prompt(chat=chat, **data)
        return Response(chat_detail(chat))


class ChatSearchApi(PaginatedApi):
    pagination_class = RankedCursorPagination

    @extend_schema(
        tags=TAGS,
        parameters=[ChatSearchQuerySerializer],
        responses={200: ChatSearchResultSerializer(many=True), **ERRORS},
        summary="Search chat titles and messages",
        description="Full-text (websearch syntax) on PostgreSQL, best match first; `snippet` marks matches with `**`.",
    )
    def get(self, request: Request) -> Response:
        query = validated(ChatSearchQuerySerializer, request.query_params)["q"]
        results = selectors.chat_search(user=request_user(request), query=query)
        return self.paginated(request, results, ChatSearchResultSerializer, query=query)


class ChatMessagesApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[BranchPageQuerySerializer],
        responses={200: BranchPageSerializer, **ERRORS},
        summary="The turns of the chat's active branch, oldest first",
        description=(
            "Without `before`, the newest `page_size` turns; follow `previous` for older ones. `sibling_count`/"
            '`sibling_index` give the "2 of 3" position of each turn among its versions.'
        ),
    )
    def get(self, request: Request, chat_id: UUID) -> HttpResponse:
        user = request_user(request)
        if sql_pages():
            return json_response(history_json(request, user, chat_id))
        chat = selectors.chat_get(user=user, chat_id=chat_id)
        query = validated(BranchPageQuerySerializer, request.query_params)
        return branch_response(request, chat, before=query.get("before"), page_size=query["page_size"])


# --- pairs (turns) -------------------------------------------------------------------------------


class PairSiblingsApi(APIView):
    @extend_schema(tags=TAGS, responses={200: SiblingSerializer(many=True), **ERRORS}, summary="The versions of a turn")
    def get(self, request: Request, pair_id: UUID) -> Response:
        pair = selectors.pair_get(user=request_user(request), pair_id=pair_id)
        return Response(SiblingSerializer(selectors.pair_siblings(pair=pair), many=True).data)


class PairSwitchApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: BranchPageSerializer, **ERRORS},
        summary="Show this version of a turn",
        description="The chat's active branch becomes the newest branch through this pair; returns its last page.",
    )
    def post(self, request: Request, pair_id: UUID) -> Response:
        pair = selectors.pair_get(user=request_user(request), pair_id=pair_id)
        return branch_response(request, services.pair_switch(pair=pair))


class PairToggleApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=PairToggleInputSerializer,
        responses={200: PairStateSerializer, **ERRORS},
        summary="Hide a turn from the model's context, or show it again",
        description="`{hidden: bool}` sets it; an empty body flips it.",
    )
    def post(self, request: Request, pair_id: UUID) -> Response:
        pair = selectors.pair_get(user=request_user(request), pair_id=pair_id)
        data = validated(PairToggleInputSerializer, request.data)
        return Response(PairStateSerializer(services.pair_set_hidden(pair=pair, hidden=data["hidden"])).data)


class PairDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={204: None, 409: OpenApiResponse(description="`generation_in_progress`."), **ERRORS},
        summary="Delete a turn and every turn after it",
        description="If the active branch went through it, the chat shows the newest remaining version instead.",
    )
    def delete(self, request: Request, pair_id: UUID) -> Response:
        services.pair_delete(pair=selectors.pair_get(user=request_user(request), pair_id=pair_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatTitleRegenerateApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: ChatTitleSerializer,
            409: OpenApiResponse(description="`nothing_to_title`, `no_title_suggested` or `title_changed`."),
            **ERRORS,
            402: OpenApiResponse(description="`budget_exhausted`: the monthly budget is used up (`details.reset_at`)."),
        },
        summary="Regenerate the chat's title",
        description="Asks the title model now and replaces the title (even one you set). Model failures "
        "answer with the `llm_*` error codes.",
    )
    def post(self, request: Request, chat_id: UUID) -> Response:
        chat = selectors.chat_get(user=request_user(request), chat_id=chat_id)
        return Response(ChatTitleSerializer(titles.chat_title_regenerate(chat=chat)).data)
