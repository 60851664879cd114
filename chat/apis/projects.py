"""Projects and their knowledge (documents sent with every chat of the project, within a token budget)."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.pagination import OldestFirstPagination, PaginatedApi
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.selectors import chats as selectors
from chat.serializers.chats import ChatListSerializer
from chat.serializers.projects import (
    KnowledgeCreateInputSerializer,
    KnowledgeListQuerySerializer,
    KnowledgeListSerializer,
    KnowledgeSerializer,
    KnowledgeUpdateInputSerializer,
    ProjectInputSerializer,
    ProjectSerializer,
    ProjectUpdateInputSerializer,
)
from chat.services import projects as services

TAGS = ["chat projects"]
BUDGET = (
    "`knowledge_budget_exceeded` (400, details `{budget, used, requested}`) if the included knowledge would not fit."
)


class ProjectListApi(PaginatedApi):
    @extend_schema(
        tags=TAGS, responses={200: ProjectSerializer(many=True), **ERRORS}, summary="List projects, newest first"
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.project_list(user=request_user(request)), ProjectSerializer)

    @extend_schema(
        tags=TAGS,
        request=ProjectInputSerializer,
        responses={201: ProjectSerializer, **ERRORS},
        summary="Create a project",
    )
    def post(self, request: Request) -> Response:
        data = validated(ProjectInputSerializer, request.data)
        project = services.project_create(user=request_user(request), **data)
        project = selectors.project_get(user=request_user(request), project_id=project.id)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: ProjectSerializer, **ERRORS}, summary="A project with its knowledge size")
    def get(self, request: Request, project_id: UUID) -> Response:
        return Response(
            ProjectSerializer(selectors.project_get(user=request_user(request), project_id=project_id)).data
        )

    @extend_schema(
        tags=TAGS,
        request=ProjectUpdateInputSerializer,
        responses={200: ProjectSerializer, **ERRORS},
        summary="Change a project's name, description or instructions",
    )
    def patch(self, request: Request, project_id: UUID) -> Response:
        project = selectors.project_get(user=request_user(request), project_id=project_id)
        changes = validated(ProjectUpdateInputSerializer, request.data)
        return Response(ProjectSerializer(services.project_update(project=project, changes=changes)).data)

    @extend_schema(
        tags=TAGS,
        responses={204: None, **ERRORS},
        summary="Delete a project and its knowledge",
        description="Its chats are kept, detached from the project.",
    )
    def delete(self, request: Request, project_id: UUID) -> Response:
        services.project_delete(project=selectors.project_get(user=request_user(request), project_id=project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectKnowledgeApi(PaginatedApi):
    pagination_class = OldestFirstPagination

    @extend_schema(
        tags=TAGS, responses={200: KnowledgeListSerializer(many=True), **ERRORS}, summary="A project's knowledge"
    )
    def get(self, request: Request, project_id: UUID) -> Response:
        project = selectors.project_get(user=request_user(request), project_id=project_id)
        knowledge = selectors.knowledge_list(user=request_user(request), project_id=project.id)
        return self.paginated(request, knowledge, KnowledgeListSerializer)


class ProjectChatsApi(PaginatedApi):
    @extend_schema(
        tags=TAGS, responses={200: ChatListSerializer(many=True), **ERRORS}, summary="A project's (unarchived) chats"
    )
    def get(self, request: Request, project_id: UUID) -> Response:
        project = selectors.project_get(user=request_user(request), project_id=project_id)
        chats = selectors.chat_list(user=request_user(request), project_id=project.id)
        return self.paginated(request, chats, ChatListSerializer)


class KnowledgeListApi(PaginatedApi):
    pagination_class = OldestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[KnowledgeListQuerySerializer],
        responses={200: KnowledgeListSerializer(many=True), **ERRORS},
        summary="Knowledge of all (or one of) your projects, without content",
    )
    def get(self, request: Request) -> Response:
        query = validated(KnowledgeListQuerySerializer, request.query_params)
        knowledge = selectors.knowledge_list(user=request_user(request), project_id=query.get("project"))
        return self.paginated(request, knowledge, KnowledgeListSerializer)

    @extend_schema(
        tags=TAGS,
        request=KnowledgeCreateInputSerializer,
        responses={201: KnowledgeSerializer, **ERRORS},
        summary="Add knowledge to a project",
        description=f"`token_count` is estimated from `content`. {BUDGET}",
    )
    def post(self, request: Request) -> Response:
        data = validated(KnowledgeCreateInputSerializer, request.data)
        knowledge = services.knowledge_create(user=request_user(request), **data)
        return Response(KnowledgeSerializer(knowledge).data, status=status.HTTP_201_CREATED)


class KnowledgeDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: KnowledgeSerializer, **ERRORS}, summary="One knowledge document")
    def get(self, request: Request, knowledge_id: UUID) -> Response:
        knowledge = selectors.knowledge_get(user=request_user(request), knowledge_id=knowledge_id)
        return Response(KnowledgeSerializer(knowledge).data)

    @extend_schema(
        tags=TAGS,
        request=KnowledgeUpdateInputSerializer,
        responses={200: KnowledgeSerializer, **ERRORS},
        summary="Change a knowledge document",
        description=BUDGET,
    )
    def patch(self, request: Request, knowledge_id: UUID) -> Response:
        knowledge = selectors.knowledge_get(user=request_user(request), knowledge_id=knowledge_id)
        changes = validated(KnowledgeUpdateInputSerializer, request.data)
        return Response(KnowledgeSerializer(services.knowledge_update(knowledge=knowledge, changes=changes)).data)

    @extend_schema(tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a knowledge document")
    def delete(self, request: Request, knowledge_id: UUID) -> Response:
        services.knowledge_delete(
            knowledge=selectors.knowledge_get(user=request_user(request), knowledge_id=knowledge_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class KnowledgeToggleApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: KnowledgeSerializer, **ERRORS},
        summary="Include a document in chats, or leave it out",
        description=BUDGET,
    )
    def post(self, request: Request, knowledge_id: UUID) -> Response:
        knowledge = selectors.knowledge_get(user=request_user(request), knowledge_id=knowledge_id)
        return Response(KnowledgeSerializer(services.knowledge_toggle(knowledge=knowledge)).data)
