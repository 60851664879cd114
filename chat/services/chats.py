"""Writes on chats and on the turns (pairs) of their conversation tree.

Every function takes rows the caller has already loaded owner-scoped (through
`chat.selectors.chats`), so nothing here re-checks ownership of the chat itself; ids that arrive
in a request body (project, saved prompt) are resolved against the chat's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db import transaction

from appauth.models import AppUser
from backend import errors
from backend.errors import Conflict, ValidationFailed
from backend.llm.registry import get_registry
from chat.errors import ErrorCode
from chat.models import Chat, Message, MessagePair, Project, SavedSystemPrompt
from chat.selectors.tree import deepest_leaf

CHAT_UPDATABLE = ("title", "system_prompt", "project_id", "model", "saved_prompt_id", "tools_enabled")


def model_alias_validate(*, alias: str) -> str:
    """`alias` if a user may pick it ("" means the default alias); raises ValidationFailed(unknown_model)."""
    if not alias:
        return ""
    found = get_registry().aliases.get(alias)
    if found is None or not found.selectable:
        raise ValidationFailed(
            f"Unknown model alias {alias!r}.", code=errors.ErrorCode.UNKNOWN_MODEL, details={"model": alias}
        )
    return alias


def _owned_project(*, user: AppUser, project_id: UUID | None) -> Project | None:
    if project_id is None:
        return None
    project = Project.objects.filter(user=user, id=project_id).first()
    if project is None:
        raise ValidationFailed(
            "Project not found.", code=ErrorCode.PROJECT_NOT_FOUND, details={"project_id": str(project_id)}
        )
    return project


def _owned_prompt(*, user: AppUser, saved_prompt_id: UUID | None) -> SavedSystemPrompt | None:
    if saved_prompt_id is None:
        return None
    prompt = SavedSystemPrompt.objects.filter(user=user, id=saved_prompt_id).first()
    if prompt is None:
        raise ValidationFailed(
            "Saved prompt not found.",
            code=ErrorCode.SAVED_PROMPT_NOT_FOUND,
            details={"saved_prompt_id": str(saved_prompt_id)},
        )
    return prompt


def chat_create(
    *,
    user: AppUser,
    title: str = "",
    project_id: UUID | None = None,
    system_prompt: str = "",
    saved_prompt_id: UUID | None = None,
    model: str = "",
    incognito: bool = False,
) -> Chat:
    """A new empty chat. A given title counts as the user's (never replaced by a generated one)."""
    chat = Chat(
        user=user,
        project=_owned_project(user=user, project_id=project_id),
        saved_prompt=_owned_prompt(user=user, saved_prompt_id=saved_prompt_id),
        system_prompt=system_prompt,
        model=model_alias_validate(alias=model),
        incognito=incognito,
    )
    if title.strip():
        chat.title = title.strip()
        chat.title_source = Chat.TitleSource.USER
    chat.save()
    return chat


def chat_update(*, chat: Chat, changes: Mapping[str, Any]) -> Chat:
    """Apply the given subset of CHAT_UPDATABLE fields. A new title becomes the user's title."""
    unknown = set(changes) - set(CHAT_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "title" in changes:
        title = str(changes["title"]).strip()
        if not title:
            raise ValidationFailed("title: This field may not be blank.", details={"title": ["may not be blank"]})
        chat.title = title
        chat.title_source = Chat.TitleSource.USER
    if "system_prompt" in changes:
        chat.system_prompt = changes["system_prompt"]
    if "project_id" in changes:
        chat.project = _owned_project(user=chat.user, project_id=changes["project_id"])
    if "saved_prompt_id" in changes:
        chat.saved_prompt = _owned_prompt(user=chat.user, saved_prompt_id=changes["saved_prompt_id"])
    if "model" in changes:
        chat.model = model_alias_validate(alias=changes["model"])
    if "tools_enabled" in changes:
        chat.tools_enabled = bool(changes["tools_enabled"])
    chat.save()
    return chat


def chat_set_system_prompt(
    *, chat: Chat, saved_prompt_id: UUID | None = None, system_prompt: str | None = None
) -> Chat:
    """Use a saved prompt (by reference, so later edits to it apply) or the chat's own text; not both.

    With neither (`saved_prompt_id` None and `system_prompt` None or ""), the default prompt applies.
    """
    if saved_prompt_id is not None and system_prompt:
        raise ValidationFailed(
            "Give either saved_prompt_id or system_prompt, not both.", code=ErrorCode.AMBIGUOUS_SYSTEM_PROMPT
        )
    chat.saved_prompt = _owned_prompt(user=chat.user, saved_prompt_id=saved_prompt_id)
    chat.system_prompt = system_prompt or ""
    chat.save(update_fields=["saved_prompt", "system_prompt", "updated_at"])
    return chat


def chat_set_archived(*, chat: Chat, archived: bool) -> Chat:
    if chat.archived != archived:
        chat.archived = archived
        chat.save(update_fields=["archived", "updated_at"])
    return chat


def chat_delete(*, chat: Chat) -> None:
    """Delete the chat with its pairs, messages and attachments (usage roll-ups are kept)."""
    chat.delete()


def pair_switch(*, pair: MessagePair) -> Chat:
    """Make the branch through `pair` the visible one: the chat's active leaf becomes its deepest leaf."""
    chat = pair.chat
    chat.active_leaf = deepest_leaf(pair=pair)
    chat.save(update_fields=["active_leaf", "updated_at"])
    return chat


def pair_set_hidden(*, pair: MessagePair, hidden: bool | None = None) -> MessagePair:
    """Hide the turn from (or show it to) the model's context; `hidden=None` flips it."""
    pair.hidden = (not pair.hidden) if hidden is None else hidden
    pair.save(update_fields=["hidden"])
    return pair


def _subtree_ids(*, pair: MessagePair) -> set[UUID]:
    children: dict[UUID | None, list[UUID]] = {}
    for pair_id, parent_id in MessagePair.objects.filter(chat_id=pair.chat_id).values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(pair_id)
    subtree: set[UUID] = set()
    frontier = [pair.id]
    while frontier:
        current = frontier.pop()
        subtree.add(current)
        frontier.extend(children.get(current, []))
    return subtree


@transaction.atomic
def pair_delete(*, pair: MessagePair) -> Chat:
    """Delete a turn and every turn below it; keep the chat's active branch valid.

    If the active leaf was inside the deleted subtree, the chat lands on the newest remaining
    branch under the deleted pair's parent (the parent itself when it has no other children), or
    on the newest remaining root branch. Raises Conflict(generation_in_progress) while an answer
    in the subtree is still streaming.
    """
    chat = Chat.objects.select_for_update().get(id=pair.chat_id)
    subtree = _subtree_ids(pair=pair)
    if Message.objects.filter(pair_id__in=subtree, status=Message.Status.STREAMING).exists():
        raise Conflict(
            "An answer in this part of the chat is still being generated.", code=ErrorCode.GENERATION_IN_PROGRESS
        )
    parent_id = pair.parent_id
    active_inside = chat.active_leaf_id in subtree
    MessagePair.objects.filter(id=pair.id).delete()
    if active_inside:
        landing: MessagePair | None
        if parent_id is not None:
            landing = deepest_leaf(pair=MessagePair.objects.get(id=parent_id))
        else:
            root = MessagePair.objects.filter(chat=chat, parent__isnull=True).order_by("-created_at", "-id").first()
            landing = deepest_leaf(pair=root) if root is not None else None
        chat.active_leaf = landing
    chat.save(update_fields=["active_leaf", "updated_at"])
    return chat
