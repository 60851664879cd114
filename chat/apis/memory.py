"""Memory management: the user's memories and tags, the on/off switch, stats, the context preview,
and manual extraction from a chat.

Thin views: validate → one service or selector → render. Every id is looked up among the
requesting user's own rows, so another user's id is a 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.pagination import CursorPagination, PaginatedApi
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.models import Chat
from chat.selectors import chats as chat_selectors
from chat.selectors import memory as selectors
from chat.serializers.memory import (
    ContextPreviewSerializer,
    ContextQuerySerializer,
    ForgetAllSerializer,
    MemoryInputSerializer,
    MemoryListQuerySerializer,
    MemorySerializer,
    MemorySettingsSerializer,
    MemoryStatsSerializer,
    MemoryTagSerializer,
    MemoryUpdateInputSerializer,
    QueuedSerializer,
    TagInputSerializer,
    VerifyInputSerializer,
)
from chat.services import memory as services
from chat.services.context import knowledge_context_preview

TAGS = ["chat memory"]
CONFLICT = {409: OpenApiResponse(description="`incognito_chat` or `memory_disabled`.")}


# --- memories ------------------------------------------------------------------------------------


class MemoryListApi(PaginatedApi):
    @extend_schema(
        tags=TAGS,
        parameters=[MemoryListQuerySerializer],
        responses={200: MemorySerializer(many=True), **ERRORS},
        summary="List memories, newest change first",
        description="Active memories by default (`active=false` lists superseded/deactivated ones).",
    )
    def get(self, request: Request) -> Response:
        query = validated(MemoryListQuerySerializer, request.query_params)
        memories = selectors.memory_list(
            user=request_user(request),
            q=query["q"],
            category=query["category"],
            tag=query["tag"],
            project_id=query["project"],
            is_active=query["active"],
            is_verified=query["verified"],
        )
        return self.paginated(request, memories, MemorySerializer)

    @extend_schema(
        tags=TAGS,
        request=MemoryInputSerializer,
        responses={201: MemorySerializer, **ERRORS},
        summary="Add a memory yourself (verified)",
        description="`project_id` scopes it to that project's chats.",
    )
    def post(self, request: Request) -> Response:
        data = validated(MemoryInputSerializer, request.data)
        memory = services.memory_create(user=request_user(request), **data)
        return Response(MemorySerializer(memory).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        operation_id="chat_memories_forget_all",
        responses={200: ForgetAllSerializer, **ERRORS},
        summary="Forget everything: all memories and tags",
    )
    def delete(self, request: Request) -> Response:
        return Response({"deleted": services.memory_forget_all(user=request_user(request))})


class MemoryDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: MemorySerializer, **ERRORS}, summary="A memory")
    def get(self, request: Request, memory_id: UUID) -> Response:
        return Response(MemorySerializer(selectors.memory_get(user=request_user(request), memory_id=memory_id)).data)

    @extend_schema(
        tags=TAGS,
        request=MemoryUpdateInputSerializer,
        responses={200: MemorySerializer, **ERRORS},
        summary="Edit a memory",
        description="`tags` replaces the tag set; `is_active: false` stops recalling it.",
    )
    def patch(self, request: Request, memory_id: UUID) -> Response:
        memory = selectors.memory_get(user=request_user(request), memory_id=memory_id)
        changes = validated(MemoryUpdateInputSerializer, request.data)
        memory = services.memory_update(memory=memory, changes=changes)
        return Response(MemorySerializer(selectors.memory_get(user=request_user(request), memory_id=memory.id)).data)

    @extend_schema(tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a memory")
    def delete(self, request: Request, memory_id: UUID) -> Response:
        services.memory_delete(memory=selectors.memory_get(user=request_user(request), memory_id=memory_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemoryVerifyApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=VerifyInputSerializer,
        responses={200: MemorySerializer, **ERRORS},
        summary="Confirm a memory (or withdraw the confirmation)",
        description="A verified memory keeps its wording when a later conversation restates it.",
    )
    def post(self, request: Request, memory_id: UUID) -> Response:
        memory = selectors.memory_get(user=request_user(request), memory_id=memory_id)
        verified = validated(VerifyInputSerializer, request.data)["verified"]
        return Response(MemorySerializer(services.memory_verify(memory=memory, verified=verified)).data)


class MemoryStatsApi(APIView):
    @extend_schema(tags=TAGS, responses={200: MemoryStatsSerializer, **ERRORS}, summary="Memory totals")
    def get(self, request: Request) -> Response:
        return Response(MemoryStatsSerializer(selectors.memory_stats(user=request_user(request))).data)


class MemorySettingsApi(APIView):
    @extend_schema(tags=TAGS, responses={200: MemorySettingsSerializer, **ERRORS}, summary="Whether memory is on")
    def get(self, request: Request) -> Response:
        return Response({"enabled": selectors.memory_enabled(user_id=request_user(request).id)})

    @extend_schema(
        tags=TAGS,
        request=MemorySettingsSerializer,
        responses={200: MemorySettingsSerializer, **ERRORS},
        summary="Switch memory on or off",
        description="Off: nothing new is remembered and nothing is recalled; existing memories are kept "
        "until deleted (`DELETE /memories/`).",
    )
    def patch(self, request: Request) -> Response:
        enabled = validated(MemorySettingsSerializer, request.data)["enabled"]
        preference = services.memory_settings_set(user=request_user(request), enabled=enabled)
        return Response({"enabled": preference.enabled})


class MemoryContextApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[ContextQuerySerializer],
        responses={200: ContextPreviewSerializer, **ERRORS},
        summary="Preview the memory block sent to the model",
        description="With `knowledge`: how the chat's project knowledge is sent (whole, or the excerpts found). "
        "For `chat_id` (its project scope, its newest question) or, without it, outside any "
        "project; `q` overrides the question. Previewing does not count as a reference.",
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = validated(ContextQuerySerializer, request.query_params)
        if query["chat_id"] is not None:
            chat = chat_selectors.chat_get(user=user, chat_id=query["chat_id"])
        else:
            chat = Chat(user=user, title="")
        block = services.memory_context_block(chat=chat, query=query["q"], mark_referenced=False)
        knowledge = knowledge_context_preview(chat=chat, question=query["q"]) if query["chat_id"] else None
        preview: dict[str, Any] = {
            "enabled": selectors.memory_enabled(user_id=user.id),
            "text": block.text if block else "",
            "token_estimate": block.token_estimate if block else 0,
            "budget_tokens": settings.CHAT_MEMORY_CONTEXT_TOKENS,
            "memories": block.memories if block else [],
            "knowledge": None
            if knowledge is None
            else {
                "mode": knowledge.mode,
                "included_tokens": knowledge.included_tokens,
                "budget_tokens": knowledge.budget_tokens,
                "excerpts": [{**excerpt, "section": excerpt["heading"]} for excerpt in knowledge.excerpts],
            },
        }
        return Response(ContextPreviewSerializer(preview).data)


# --- tags ----------------------------------------------------------------------------------------


class ByNamePagination(CursorPagination):
    ordering = ("name", "id")
    page_size = 100


class MemoryTagListApi(PaginatedApi):
    pagination_class = ByNamePagination

    @extend_schema(
        tags=TAGS, responses={200: MemoryTagSerializer(many=True), **ERRORS}, summary="List memory tags, by name"
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.tag_list(user=request_user(request)), MemoryTagSerializer)

    @extend_schema(
        tags=TAGS, request=TagInputSerializer, responses={201: MemoryTagSerializer, **ERRORS}, summary="Add a tag"
    )
    def post(self, request: Request) -> Response:
        name = validated(TagInputSerializer, request.data)["name"]
        tag = services.tag_create(user=request_user(request), name=name)
        return Response(MemoryTagSerializer(tag).data, status=status.HTTP_201_CREATED)


class MemoryTagDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: MemoryTagSerializer, **ERRORS}, summary="A memory tag")
    def get(self, request: Request, tag_id: int) -> Response:
        return Response(MemoryTagSerializer(selectors.tag_get(user=request_user(request), tag_id=tag_id)).data)

    @extend_schema(
        tags=TAGS,
        request=TagInputSerializer,
        responses={200: MemoryTagSerializer, **ERRORS},
        summary="Rename a tag (409 memory_tag_exists when the name is taken)",
    )
    def patch(self, request: Request, tag_id: int) -> Response:
        user = request_user(request)
        name = validated(TagInputSerializer, request.data)["name"]
        services.tag_rename(tag=selectors.tag_get(user=user, tag_id=tag_id), name=name)
        return Response(MemoryTagSerializer(selectors.tag_get(user=user, tag_id=tag_id)).data)

    @extend_schema(tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a tag (its memories stay)")
    def delete(self, request: Request, tag_id: int) -> Response:
        services.tag_delete(tag=selectors.tag_get(user=request_user(request), tag_id=tag_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- per chat --------------------------------------------------------------------------------------


class ChatExtractMemoriesApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={202: QueuedSerializer, **CONFLICT, **ERRORS},
        summary="Extract memories from this chat now",
        description="Queued in the background; facts already known are merged, not duplicated.",
    )
    def post(self, request: Request, chat_id: UUID) -> Response:
        chat = chat_selectors.chat_get(user=request_user(request), chat_id=chat_id)
        services.memory_extract_chat_schedule(chat=chat)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
