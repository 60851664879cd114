"""Plain writes: design projects, groups, and renaming/moving/deleting prototypes and variants."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from appauth.models import AppUser
from backend import errors
from prototypes import selectors
from prototypes.errors import ErrorCode
from prototypes.models import DesignProject, Group, Prototype, PrototypeVariant


def project_create(*, user: AppUser, name: str, description: str = "") -> DesignProject:
    return DesignProject.objects.create(user=user, name=name, description=description)


def project_update(*, user: AppUser, project_id: UUID, **fields: Any) -> DesignProject:
    project = selectors.project_get(user=user, project_id=project_id)
    for name in ("name", "description"):
        if name in fields:
            setattr(project, name, fields[name])
    project.save()
    return project


def project_delete(*, user: AppUser, project_id: UUID) -> None:
    selectors.project_get(user=user, project_id=project_id).delete()


def group_create(*, user: AppUser, project_id: UUID, name: str, description: str = "") -> Group:
    project = selectors.project_get(user=user, project_id=project_id)
    return Group.objects.create(project=project, name=name, description=description)


def group_update(*, user: AppUser, group_id: UUID, **fields: Any) -> Group:
    group = selectors.group_get(user=user, group_id=group_id)
    for name in ("name", "description"):
        if name in fields:
            setattr(group, name, fields[name])
    group.save()
    return group


def group_delete(*, user: AppUser, group_id: UUID) -> None:
    """Delete a group; its prototypes stay in the project, ungrouped."""
    selectors.group_get(user=user, group_id=group_id).delete()


def group_for_project(*, user: AppUser, project: DesignProject, group_id: UUID | None) -> Group | None:
    """The group `group_id` of the user, which must belong to `project` (None stays None)."""
    if group_id is None:
        return None
    group = selectors.group_get(user=user, group_id=group_id)
    if group.project_id != project.id:
        raise errors.ValidationFailed(
            "The group belongs to another design project.", code=ErrorCode.GROUP_PROJECT_MISMATCH
        )
    return group


def prototype_update(*, user: AppUser, prototype_id: UUID, **fields: Any) -> Prototype:
    prototype = selectors.prototype_get(user=user, prototype_id=prototype_id)
    if "name" in fields:
        prototype.name = fields["name"]
    if "group_id" in fields:
        prototype.group = group_for_project(user=user, project=prototype.project, group_id=fields["group_id"])
    prototype.save()
    return prototype


def prototype_delete(*, user: AppUser, prototype_id: UUID) -> None:
    selectors.prototype_get(user=user, prototype_id=prototype_id).delete()


def variant_update(*, user: AppUser, variant_id: UUID, name: str) -> PrototypeVariant:
    variant = selectors.variant_get(user=user, variant_id=variant_id)
    variant.name = name
    variant.save(update_fields=["name", "updated_at"])
    return variant


def variant_delete(*, user: AppUser, variant_id: UUID) -> None:
    """Delete a variant; the original cannot be deleted (delete the prototype instead)."""
    with transaction.atomic():
        variant = selectors.variant_get(user=user, variant_id=variant_id)
        if variant.is_original:
            raise errors.Conflict(
                "The original variant cannot be deleted; delete the prototype instead.", code=ErrorCode.ORIGINAL_VARIANT
            )
        variant.delete()
