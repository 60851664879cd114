"""Versions: accepting a generation (the version it will fill), finishing it, reverting, diffing.

Accepting creates the `streaming` version (and, for a new prototype, the prototype and its
original variant) in one transaction and builds the model request; the streaming engine's
admission runs it (Idempotency-Keys and the concurrency limit come first) and its run then
streams into the version (`prototypes.services.generation`). Version numbers are allocated
under a row lock on the variant, so concurrent edits of one variant get consecutive numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from appauth.models import AppUser
from backend import errors
from backend.llm.types import LLMRequest
from backend.streaming.engine import Engine
from prototypes import selectors
from prototypes.errors import ErrorCode
from prototypes.models import Prototype, PrototypeVariant, PrototypeVersion
from prototypes.services import prompts
from prototypes.services.crud import group_for_project
from prototypes.services.editing import unified_diff


@dataclass(frozen=True)
class Accepted:
    """A version waiting for its generation, with everything the generation needs."""

    version: PrototypeVersion
    request: LLMRequest | None
    base_html: str
    edit_prompt: str
    ids: dict[str, str | int]


# --- Request identity ------------------------------------------------------------------------------


def request_fingerprint(*, path: str, payload: dict[str, Any]) -> str:
    """A stable hash of a request, to tell a true retry from a reused Idempotency-Key."""
    canonical = json.dumps({"path": path, "body": payload}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _ids(version: PrototypeVersion, variant: PrototypeVariant) -> dict[str, str | int]:
    return {
        "design_project_id": str(variant.prototype.project_id),
        "prototype_id": str(variant.prototype_id),
        "variant_id": str(variant.id),
        "version_id": str(version.id),
        "version_number": version.version_number,  # an integer, as in the REST API
    }


def stream_ids(version: PrototypeVersion) -> dict[str, str | int]:
    """The ids of a version's `message_start` event."""
    return _ids(version, version.variant)


def _next_number(variant: PrototypeVariant) -> int:
    PrototypeVariant.objects.select_for_update().filter(id=variant.id).first()
    current = variant.versions.aggregate(top=Max("version_number"))["top"]
    return (current or 0) + 1


def _name_from(prompt: str) -> str:
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else "Prototype"
    return first_line[:80]


def prototype_generate(
    *, user: AppUser, project_id: UUID, prompt: str, name: str = "", group_id: UUID | None = None
) -> Accepted:
    """A new prototype from `prompt`: the prototype, its original variant and version 1 (streaming)."""
    with transaction.atomic():
        project = selectors.project_get(user=user, project_id=project_id)
        group = group_for_project(user=user, project=project, group_id=group_id)
        prototype = Prototype.objects.create(
            project=project, group=group, name=name or _name_from(prompt), initial_prompt=prompt
        )
        variant = PrototypeVariant.objects.create(prototype=prototype, name="Original", is_original=True)
        version = PrototypeVersion.objects.create(
            variant=variant,
            version_number=1,
            kind=PrototypeVersion.Kind.GENERATE,
            edit_prompt=prompt,
            **Engine.new_record_fields(),
        )
    request = prompts.generate_request(
        prompt=prompt,
        project_name=project.name,
        project_description=project.description,
        user_id=user.id,
        version_id=version.id,
    )
    return Accepted(version=version, request=request, base_html="", edit_prompt=prompt, ids=_ids(version, variant))


def variant_create(
    *, user: AppUser, prototype_id: UUID, source_variant_id: UUID | None = None, prompt: str = "", name: str = ""
) -> Accepted:
    """A distinct alternative of a variant's latest good version (default: the original variant)."""
    with transaction.atomic():
        prototype = selectors.prototype_get(user=user, prototype_id=prototype_id)
        if source_variant_id is None:
            source = prototype.variants.filter(is_original=True).first()
        else:
            source = selectors.variant_get(user=user, variant_id=source_variant_id)
            if source.prototype_id != prototype.id:
                raise errors.ValidationFailed(
                    "The source variant belongs to another prototype.", code=ErrorCode.VARIANT_PROTOTYPE_MISMATCH
                )
        base = selectors.latest_good_version(variant=source) if source else None
        if source is None or base is None:
            raise errors.Conflict("The source variant has no complete version yet.", code=ErrorCode.NO_COMPLETE_VERSION)
        count = prototype.variants.count()
        variant = PrototypeVariant.objects.create(
            prototype=prototype, name=name or f"Variant {count + 1}", source_variant=source, guidance=prompt
        )
        version = PrototypeVersion.objects.create(
            variant=variant,
            version_number=1,
            kind=PrototypeVersion.Kind.VARIANT,
            base_version=base,
            edit_prompt=prompt,
            **Engine.new_record_fields(),
        )
    request = prompts.variant_request(
        base_html=base.html_content, guidance=prompt, user_id=user.id, version_id=version.id
    )
    return Accepted(
        version=version, request=request, base_html=base.html_content, edit_prompt=prompt, ids=_ids(version, variant)
    )


def version_create(*, user: AppUser, variant_id: UUID, prompt: str) -> Accepted:
    """Edit the latest good version of a variant by prompt: the next version (streaming)."""
    with transaction.atomic():
        variant = selectors.variant_get(user=user, variant_id=variant_id)
        number = _next_number(variant)
        base = selectors.latest_good_version(variant=variant)
        if base is None:
            raise errors.Conflict(
                "The variant has no complete version to edit yet.", code=ErrorCode.NO_COMPLETE_VERSION
            )
        version = PrototypeVersion.objects.create(
            variant=variant,
            version_number=number,
            kind=PrototypeVersion.Kind.EDIT,
            base_version=base,
            edit_prompt=prompt,
            **Engine.new_record_fields(),
        )
    request = prompts.edit_request(base_html=base.html_content, prompt=prompt, user_id=user.id, version_id=version.id)
    return Accepted(
        version=version, request=request, base_html=base.html_content, edit_prompt=prompt, ids=_ids(version, variant)
    )


def version_revert(*, user: AppUser, version_id: UUID) -> PrototypeVersion:
    """A new version of the same variant whose page equals `version_id`'s; nothing is deleted."""
    with transaction.atomic():
        target = selectors.version_get(user=user, version_id=version_id)
        if target.status not in (PrototypeVersion.Status.COMPLETE, PrototypeVersion.Status.INCOMPLETE):
            raise errors.Conflict("Only a version with a page can be restored.", code=ErrorCode.VERSION_HAS_NO_PAGE)
        variant = target.variant
        number = _next_number(variant)
        latest = variant.versions.exclude(status=PrototypeVersion.Status.STREAMING).order_by("-version_number").first()
        previous_html = latest.html_content if latest else ""
        return PrototypeVersion.objects.create(
            variant=variant,
            version_number=number,
            kind=PrototypeVersion.Kind.REVERT,
            status=PrototypeVersion.Status.COMPLETE,
            base_version=target,
            edit_prompt=f"Restore version {target.version_number}",
            html_content=target.html_content,
            diff=unified_diff(
                previous_html,
                target.html_content,
                before_label=f"v{latest.version_number if latest else 0}",
                after_label=f"v{number}",
            ),
            summary=f"Restored version {target.version_number}.",
            sanitizer_notes=target.sanitizer_notes,
            completed_at=timezone.now(),
        )


def version_diff(
    *, user: AppUser, version_id: UUID, against_id: UUID | None = None
) -> tuple[PrototypeVersion, PrototypeVersion | None, str]:
    """(version, the one compared against, unified diff from it). Default: the previous version of its variant."""
    version = selectors.version_get(user=user, version_id=version_id)
    if against_id is not None:
        against: PrototypeVersion | None = selectors.version_get(user=user, version_id=against_id)
    else:
        against = (
            version.variant.versions.filter(version_number__lt=version.version_number)
            .order_by("-version_number")
            .first()
        )
    before = against.html_content if against else ""
    label = f"v{against.version_number}" if against else "empty"
    return (
        version,
        against,
        unified_diff(before, version.html_content, before_label=label, after_label=f"v{version.version_number}"),
    )
