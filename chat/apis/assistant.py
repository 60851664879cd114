"""Knowledge search, knowledge from uploaded documents, and the user's answer to a destructive tool call."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
from chat.selectors import chats as selectors
from chat.serializers.projects import (
    KnowledgeSearchQuerySerializer,
    KnowledgeSearchResultSerializer,
    KnowledgeSerializer,
    KnowledgeUploadInputSerializer,
    ToolDecisionSerializer,
)
from chat.services import projects as project_services
from chat.services.knowledge_index import project_collection
from retrieval.selectors import chunk_search
from tools.services import confirmation

NOT_FOUND = {404: OpenApiResponse(description="Unknown or foreign project (`project_not_found`).")}


class ProjectSearchApi(APIView):
    @extend_schema(
        operation_id="chat_projects_search",
        tags=["chat projects"],
        parameters=[KnowledgeSearchQuerySerializer],
        responses={200: KnowledgeSearchResultSerializer, **ERRORS, **NOT_FOUND},
        summary="Search a project's knowledge",
        description="Hybrid search (full text and meaning, fused by reciprocal rank) over the chunks of the "
        "project's knowledge items, best first. Items are indexed in the background shortly after each write.",
    )
    def get(self, request: Request, project_id: UUID) -> Response:
        user = request_user(request)
        query = validated(KnowledgeSearchQuerySerializer, request.query_params)
        project = selectors.project_get(user=user, project_id=project_id)
        hits = chunk_search(collection=project_collection(project.id), owner_id=user.pk, query=query["q"], k=query["k"])
        return Response(KnowledgeSearchResultSerializer({"results": hits}).data)


class KnowledgeUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="chat_knowledge_upload",
        tags=["chat projects"],
        request={"multipart/form-data": KnowledgeUploadInputSerializer},
        responses={201: KnowledgeSerializer, **ERRORS},
        summary="Add knowledge from a document",
        description="The document's text becomes a knowledge item of the project (PDF text through pypdf; "
        "Markdown, HTML, code and plain text as they are), indexed for search like any other. "
        "400 `unsupported_document_format`, `unreadable_document`, `document_without_text`, "
        "`attachment_too_large`; 404 for a foreign project.",
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        data = validated(KnowledgeUploadInputSerializer, request.data)
        project = selectors.project_get(user=user, project_id=data["project_id"])
        upload = data["file"]
        knowledge = project_services.knowledge_create_from_file(
            user=user,
            project_id=project.id,
            name=upload.name or "document.txt",
            data=upload.read(),
            title=data.get("title", ""),
            include_in_chat=data["include_in_chat"],
        )
        return Response(KnowledgeSerializer(knowledge).data, status=status.HTTP_201_CREATED)


class _ToolDecisionApi(APIView):
    decision = ""

    def post(self, request: Request, message_id: UUID, call_id: str) -> Response:
        user = request_user(request)
        decided = confirmation.confirmation_decide(
            reference=f"chat.message:{message_id}", call_id=call_id, user_id=user.pk, decision=self.decision
        )
        return Response({"call_id": call_id, "decision": decided})


DECISION_ERRORS = {
    **ERRORS,
    404: OpenApiResponse(description="No call of yours waits under this id (`tool_call_not_pending`)."),
    409: OpenApiResponse(description="Already decided otherwise, or timed out (`tool_call_already_decided`)."),
}


class ToolCallConfirmApi(_ToolDecisionApi):
    decision = confirmation.CONFIRMED

    @extend_schema(
        operation_id="chat_tool_call_confirm",
        tags=["chat"],
        request=None,
        responses={200: ToolDecisionSerializer, **DECISION_ERRORS},
        summary="Confirm a destructive tool call",
        description="Answers a `tool_confirmation` event of the message's stream: the call runs and the answer "
        "goes on. Any server process may take it. A repeat of the same decision is harmless.",
    )
    def post(self, request: Request, message_id: UUID, call_id: str) -> Response:
        return super().post(request, message_id, call_id)


class ToolCallRejectApi(_ToolDecisionApi):
    decision = confirmation.REJECTED

    @extend_schema(
        operation_id="chat_tool_call_reject",
        tags=["chat"],
        request=None,
        responses={200: ToolDecisionSerializer, **DECISION_ERRORS},
        summary="Reject a destructive tool call",
        description="Answers a `tool_confirmation` event: the call does not run and the model is told so.",
    )
    def post(self, request: Request, message_id: UUID, call_id: str) -> Response:
        return super().post(request, message_id, call_id)
