"""Memory management: create, edit, verify and delete memories and tags; the on/off switch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from django.db import transaction

from appauth.models import AppUser
from backend.errors import Conflict, ValidationFailed
from chat.errors import ErrorCode
from chat.models import MemorySettings, MemoryTag, UserMemory
from chat.selectors.chats import project_get

logger = logging.getLogger(__name__)

MEMORY_UPDATABLE = ("summary", "raw_content", "category", "confidence", "is_active", "is_verified", "tags")


def _project_for(*, user: AppUser, project_id: UUID | None) -> Any:
    if project_id is None:
        return None
    return project_get(user=user, project_id=project_id)


def memory_create(
    *,
    user: AppUser,
    summary: str,
    raw_content: str = "",
    category: str = UserMemory.Category.OTHER,
    tags: Iterable[str] = (),
    project_id: UUID | None = None,
) -> UserMemory:
    """A memory the user wrote themselves: verified, full confidence."""
    memory = UserMemory.objects.create(
        user=user,
        project=_project_for(user=user, project_id=project_id),
        summary=summary.strip(),
        raw_content=raw_content,
        category=category,
        confidence=1.0,
        is_verified=True,
    )
    tags_attach(memory, tags)
    return memory


def memory_update(*, memory: UserMemory, changes: Mapping[str, Any]) -> UserMemory:
    """Apply the given subset of MEMORY_UPDATABLE; `tags` replaces the tag set."""
    unknown = set(changes) - {*MEMORY_UPDATABLE, "project_id"}
    if unknown:
        raise ValidationFailed(f"Cannot change: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        for name in ("summary", "raw_content", "category", "confidence", "is_active", "is_verified"):
            if name in changes:
                setattr(memory, name, changes[name])
        if "project_id" in changes:
            memory.project = _project_for(user=memory.user, project_id=changes["project_id"])
        if changes.get("is_active"):
            memory.superseded_by = None  # restored by the user
        memory.save()
        if "tags" in changes:
            memory.tags.clear()
            tags_attach(memory, changes["tags"])
    return memory


def memory_verify(*, memory: UserMemory, verified: bool = True) -> UserMemory:
    memory.is_verified = verified
    memory.save(update_fields=["is_verified", "updated_at"])
    return memory


def memory_delete(*, memory: UserMemory) -> None:
    memory.delete()


def tag_create(*, user: AppUser, name: str) -> MemoryTag:
    tag, _ = MemoryTag.objects.get_or_create(user=user, name=name.strip().lower()[:50])
    return tag


def tag_rename(*, tag: MemoryTag, name: str) -> MemoryTag:
    """Rename a tag (names are per user, lowercase); its memories keep it. Conflict if taken."""
    new_name = name.strip().lower()[:50]
    if not new_name:
        raise ValidationFailed("A tag name cannot be blank.", details={"name": ["This field may not be blank."]})
    if MemoryTag.objects.filter(user_id=tag.user_id, name=new_name).exclude(id=tag.id).exists():
        raise Conflict(f"You already have a tag named {new_name!r}.", code=ErrorCode.MEMORY_TAG_EXISTS)
    tag.name = new_name
    tag.save(update_fields=["name"])
    return tag


def tag_delete(*, tag: MemoryTag) -> None:
    tag.delete()


def memory_settings_set(*, user: AppUser, enabled: bool) -> MemorySettings:
    preference, _ = MemorySettings.objects.update_or_create(user=user, defaults={"enabled": enabled})
    return preference


def memory_forget_all(*, user: AppUser) -> int:
    """Delete every memory and tag of the user. Returns how many memories were deleted."""
    with transaction.atomic():
        deleted = UserMemory.objects.filter(user=user).count()
        UserMemory.objects.filter(user=user).delete()
        MemoryTag.objects.filter(user=user).delete()
    return deleted


def tags_attach(memory: UserMemory, names: Iterable[str]) -> None:
    """Attach tags by name to `memory`, creating the user's missing tags (names normalised)."""
    names = list(dict.fromkeys(name.strip().lower()[:50] for name in names if name.strip()))
    if not names:
        return
    MemoryTag.objects.bulk_create(
        [MemoryTag(user_id=memory.user_id, name=name) for name in names], ignore_conflicts=True
    )
    memory.tags.add(*MemoryTag.objects.filter(user_id=memory.user_id, name__in=names))
