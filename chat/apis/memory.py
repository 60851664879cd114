"""Memory management: the user's memories and tags, the on/off switch, stats, the context preview,
manual extraction from a chat, and title regeneration.

Thin views: validate → one service or selector → render. Every id is looked up among the
requesting user's own rows, so another user's id is a 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.apis.chats import ERRORS, NewestFirstPagination, PaginatedApi, request_user, valid
from chat.models import Chat, MemoryTag, Message, UserMemory
from chat.selectors import chats as chat_selectors
from chat.selectors import memory as selectors
from chat.serializers import CitationSerializer
from chat.services import memory as services
from chat.services import titles
from chat.services.context import knowledge_context_preview

TAGS = ["chat memory"]
CONFLICT = {409: OpenApiResponse(description="`incognito_chat`, `memory_disabled`, `nothing_to_title`, ...")}


# --- serializers ---------------------------------------------------------------------------------


class MemoryTagSerializer(serializers.ModelSerializer):
    memory_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = MemoryTag
        fields = ["id", "name", "memory_count", "created_at"]
        read_only_fields = fields


class MemorySerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()

    class Meta:
        model = UserMemory
        fields = [
            "id",
            "summary",
            "raw_content",
            "category",
            "confidence",
            "tags",
            "project_id",
            "source_chat_id",
            "source_pair_id",
            "is_verified",
            "is_active",
            "superseded_by_id",
            "times_referenced",
            "last_referenced_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_tags(self, memory: UserMemory) -> list[str]:
        return sorted(tag.name for tag in memory.tags.all())


class MemoryInputSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=300)
    raw_content = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, default=UserMemory.Category.OTHER)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    project_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class MemoryUpdateInputSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=300, required=False)
    raw_content = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, required=False)
    confidence = serializers.FloatField(min_value=0, max_value=1, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    project_id = serializers.UUIDField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    is_verified = serializers.BooleanField(required=False)


class MemoryListQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", allow_blank=True, help_text="Text or tag to look for.")
    category = serializers.ChoiceField(choices=UserMemory.Category.choices, required=False, default="")
    tag = serializers.CharField(required=False, default="")
    project = serializers.UUIDField(required=False, allow_null=True, default=None)
    active = serializers.BooleanField(required=False, allow_null=True, default=True, help_text="Empty: both.")
    verified = serializers.BooleanField(required=False, allow_null=True, default=None)


class VerifyInputSerializer(serializers.Serializer):
    verified = serializers.BooleanField(default=True)


class TagInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class MemorySettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class MemoryStatsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    verified = serializers.IntegerField()
    project_scoped = serializers.IntegerField()
    times_referenced = serializers.IntegerField()
    by_category = serializers.DictField(child=serializers.IntegerField())
    tags = serializers.IntegerField()
    last_referenced_at = serializers.DateTimeField(allow_null=True)
    last_updated_at = serializers.DateTimeField(allow_null=True)
    last_extraction_at = serializers.DateTimeField(allow_null=True)


class ContextQuerySerializer(serializers.Serializer):
    chat_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    q = serializers.CharField(required=False, allow_blank=True, default=None, allow_null=True)


class KnowledgePreviewSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=Message.KnowledgeMode.choices,
        help_text="whole: the included knowledge is sent entire; retrieval: over the budget, the excerpts below "
        "(found for the question) are sent instead; empty: no included knowledge.",
    )
    included_tokens = serializers.IntegerField()
    budget_tokens = serializers.IntegerField()
    excerpts = CitationSerializer(many=True)


class ContextPreviewSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    text = serializers.CharField(help_text="Exactly the block added to the system prompt; empty when none.")
    token_estimate = serializers.IntegerField()
    budget_tokens = serializers.IntegerField()
    memories = MemorySerializer(many=True)
    knowledge = KnowledgePreviewSerializer(allow_null=True, help_text="The chat's project knowledge; null outside one.")


class ForgetAllSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class QueuedSerializer(serializers.Serializer):
    queued = serializers.BooleanField()


class ChatTitleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chat
        fields = ["id", "title", "title_source", "updated_at"]
        read_only_fields = fields


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
        query = valid(MemoryListQuerySerializer, request.query_params)
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
        data = valid(MemoryInputSerializer, request.data)
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
        changes = valid(MemoryUpdateInputSerializer, request.data)
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
        verified = valid(VerifyInputSerializer, request.data)["verified"]
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
        enabled = valid(MemorySettingsSerializer, request.data)["enabled"]
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
        query = valid(ContextQuerySerializer, request.query_params)
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


class ByNamePagination(NewestFirstPagination):
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
        name = valid(TagInputSerializer, request.data)["name"]
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
        name = valid(TagInputSerializer, request.data)["name"]
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


class ChatTitleRegenerateApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: ChatTitleSerializer,
            **CONFLICT,
            **ERRORS,
            402: OpenApiResponse(description="`budget_exhausted`: the monthly budget is used up (`details.reset_at`)."),
        },
        summary="Regenerate the chat's title",
        description="Asks the title model now and replaces the title (even one you set). Model failures "
        "answer with the `llm_*` error codes.",
    )
    def post(self, request: Request, chat_id: UUID) -> Response:
        chat = chat_selectors.chat_get(user=request_user(request), chat_id=chat_id)
        return Response(ChatTitleSerializer(titles.chat_title_regenerate(chat=chat)).data)
