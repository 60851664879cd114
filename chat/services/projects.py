"""Writes on projects and their knowledge, with the per-project knowledge token budget.

The knowledge marked `include_in_chat` is sent whole with every chat of the project while its
total (estimated) size fits `settings.CHAT_KNOWLEDGE_TOKEN_BUDGET`; beyond it the chunks found
for each question are sent instead (`CHAT_KNOWLEDGE_OVER_BUDGET="retrieve"`, the default), or
writes that would exceed it are refused (`"refuse"`). The check locks the project row, so two
concurrent writes cannot both squeeze under the budget. Every item is indexed for retrieval
after it is written, and leaves the index with its deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from appauth.models import AppUser
from backend.errors import ValidationFailed
from backend.llm.tokens import estimate_text_tokens
from chat.errors import ErrorCode
from chat.models import Project, ProjectKnowledge
from chat.services.knowledge_index import knowledge_index_schedule, knowledge_unindex, project_unindex
from retrieval.chunking import HTML, extract_text, format_of, html_to_markdown

PROJECT_UPDATABLE = ("name", "description", "instructions", "tools_enabled")
KNOWLEDGE_UPDATABLE = ("title", "content", "include_in_chat")


def knowledge_budget() -> int:
    return int(settings.CHAT_KNOWLEDGE_TOKEN_BUDGET)


def project_create(*, user: AppUser, name: str, description: str = "", instructions: str = "") -> Project:
    return Project.objects.create(user=user, name=name, description=description, instructions=instructions)


def project_update(*, project: Project, changes: Mapping[str, Any]) -> Project:
    for field in PROJECT_UPDATABLE:
        if field in changes:
            setattr(project, field, changes[field])
    project.save()
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project and its knowledge (and their index); its chats stay, detached from it."""
    project_unindex(project_id=project.id)
    project.delete()


def _included_tokens(*, project_id: UUID, excluding: UUID | None = None) -> int:
    queryset = ProjectKnowledge.objects.filter(project_id=project_id, include_in_chat=True)
    if excluding is not None:
        queryset = queryset.exclude(id=excluding)
    return int(queryset.aggregate(total=Sum("token_count"))["total"] or 0)


def _check_budget(*, project_id: UUID, requested: int, excluding: UUID | None = None) -> None:
    """Raise ValidationFailed(knowledge_budget_exceeded) if `requested` more included tokens do not fit.

    Only when over-budget knowledge is refused; by default it is searched instead (see above).
    """
    if settings.CHAT_KNOWLEDGE_OVER_BUDGET != "refuse":
        return
    # Lock the project row: concurrent knowledge writes of one project are serialised here.
    Project.objects.select_for_update().filter(id=project_id).values_list("id", flat=True).first()
    budget = knowledge_budget()
    used = _included_tokens(project_id=project_id, excluding=excluding)
    if used + requested > budget:
        raise ValidationFailed(
            f"The project's included knowledge would exceed its budget of {budget} tokens.",
            code=ErrorCode.KNOWLEDGE_BUDGET_EXCEEDED,
            details={"budget": budget, "used": used, "requested": requested},
        )


def _owned_project(*, user: AppUser, project_id: UUID) -> Project:
    project = Project.objects.filter(user=user, id=project_id).first()
    if project is None:
        raise ValidationFailed(
            "Project not found.", code=ErrorCode.PROJECT_NOT_FOUND, details={"project_id": str(project_id)}
        )
    return project


@transaction.atomic
def knowledge_create(
    *, user: AppUser, project_id: UUID, title: str, content: str, include_in_chat: bool = True
) -> ProjectKnowledge:
    """New knowledge for one of the user's projects; its token count is estimated from `content`."""
    project = _owned_project(user=user, project_id=project_id)
    token_count = estimate_text_tokens(content)
    if include_in_chat:
        _check_budget(project_id=project.id, requested=token_count)
    knowledge = ProjectKnowledge.objects.create(
        project=project, title=title, content=content, include_in_chat=include_in_chat, token_count=token_count
    )
    Project.objects.filter(id=project.id).update(updated_at=knowledge.updated_at)
    knowledge_index_schedule(knowledge_id=knowledge.id)
    return knowledge


def knowledge_create_from_file(
    *, user: AppUser, project_id: UUID, name: str, data: bytes, title: str = "", include_in_chat: bool = True
) -> ProjectKnowledge:
    """Knowledge from an uploaded document: PDF (its text), Markdown, HTML, code or plain text."""
    if len(data) > int(settings.CHAT_MAX_UPLOAD_BYTES):
        raise ValidationFailed(
            "The file is too large.",
            code=ErrorCode.ATTACHMENT_TOO_LARGE,
            details={"max_bytes": settings.CHAT_MAX_UPLOAD_BYTES},
        )
    fmt = format_of(name)
    text = extract_text(data=data, fmt=fmt)
    if fmt == HTML:
        text = html_to_markdown(text)
    elif fmt == "code":
        text = f"```\n{text}\n```"
    if not text.strip():
        raise ValidationFailed("The document has no text to use.", code=ErrorCode.DOCUMENT_WITHOUT_TEXT)
    return knowledge_create(
        user=user, project_id=project_id, title=(title or name)[:200], content=text, include_in_chat=include_in_chat
    )


@transaction.atomic
def knowledge_update(*, knowledge: ProjectKnowledge, changes: Mapping[str, Any]) -> ProjectKnowledge:
    for field in KNOWLEDGE_UPDATABLE:
        if field in changes:
            setattr(knowledge, field, changes[field])
    knowledge.token_count = estimate_text_tokens(knowledge.content)
    if knowledge.include_in_chat:
        _check_budget(project_id=knowledge.project_id, requested=knowledge.token_count, excluding=knowledge.id)
    knowledge.save()
    knowledge_index_schedule(knowledge_id=knowledge.id)
    return knowledge


def knowledge_toggle(*, knowledge: ProjectKnowledge) -> ProjectKnowledge:
    """Flip `include_in_chat` (including is budget-checked)."""
    return knowledge_update(knowledge=knowledge, changes={"include_in_chat": not knowledge.include_in_chat})


@transaction.atomic
def knowledge_delete(*, knowledge: ProjectKnowledge) -> None:
    knowledge_unindex(knowledge_id=knowledge.id)
    knowledge.delete()
