"""Saved system prompts a user can reuse across chats."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.pagination import PaginatedApi
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.selectors import chats as selectors
from chat.serializers.projects import (
    SavedPromptInputSerializer,
    SavedPromptSerializer,
    SavedPromptUpdateInputSerializer,
)
from chat.services import prompts as services

TAGS = ["chat prompts"]


class SavedPromptListApi(PaginatedApi):
    @extend_schema(
        tags=TAGS, responses={200: SavedPromptSerializer(many=True), **ERRORS}, summary="List saved system prompts"
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.saved_prompt_list(user=request_user(request)), SavedPromptSerializer)

    @extend_schema(
        tags=TAGS,
        request=SavedPromptInputSerializer,
        responses={201: SavedPromptSerializer, **ERRORS},
        summary="Save a system prompt",
    )
    def post(self, request: Request) -> Response:
        data = validated(SavedPromptInputSerializer, request.data)
        prompt = services.saved_prompt_create(user=request_user(request), **data)
        return Response(SavedPromptSerializer(prompt).data, status=status.HTTP_201_CREATED)


class SavedPromptDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: SavedPromptSerializer, **ERRORS}, summary="A saved system prompt")
    def get(self, request: Request, prompt_id: UUID) -> Response:
        prompt = selectors.saved_prompt_get(user=request_user(request), prompt_id=prompt_id)
        return Response(SavedPromptSerializer(prompt).data)

    @extend_schema(
        tags=TAGS,
        request=SavedPromptUpdateInputSerializer,
        responses={200: SavedPromptSerializer, **ERRORS},
        summary="Change a saved system prompt (chats using it follow)",
    )
    def patch(self, request: Request, prompt_id: UUID) -> Response:
        prompt = selectors.saved_prompt_get(user=request_user(request), prompt_id=prompt_id)
        changes = validated(SavedPromptUpdateInputSerializer, request.data)
        return Response(SavedPromptSerializer(services.saved_prompt_update(prompt=prompt, changes=changes)).data)

    @extend_schema(
        tags=TAGS,
        responses={204: None, **ERRORS},
        summary="Delete a saved system prompt",
        description="Chats that used it fall back to their own prompt or the default one.",
    )
    def delete(self, request: Request, prompt_id: UUID) -> Response:
        services.saved_prompt_delete(prompt=selectors.saved_prompt_get(user=request_user(request), prompt_id=prompt_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
