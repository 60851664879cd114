"""Writes on a user's saved system prompts (chats refer to them, so edits apply to those chats)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appauth.models import AppUser
from chat.models import SavedSystemPrompt

PROMPT_UPDATABLE = ("name", "content")


def saved_prompt_create(*, user: AppUser, name: str, content: str) -> SavedSystemPrompt:
    return SavedSystemPrompt.objects.create(user=user, name=name, content=content)


def saved_prompt_update(*, prompt: SavedSystemPrompt, changes: Mapping[str, Any]) -> SavedSystemPrompt:
    for field in PROMPT_UPDATABLE:
        if field in changes:
            setattr(prompt, field, changes[field])
    prompt.save()
    return prompt


def saved_prompt_delete(*, prompt: SavedSystemPrompt) -> None:
    """Delete the prompt; chats using it fall back to their own prompt or the default."""
    prompt.delete()
