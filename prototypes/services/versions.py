"""Versions: accepting a generation (the version it will fill), finishing it, reverting, diffing.

Accepting creates the `streaming` version (and, for a new prototype, the prototype and its
original variant) in one transaction and builds the model request; the generation task then
streams into it and calls `version_finish` exactly once. Version numbers are allocated under
a row lock on the variant, so concurrent edits of one variant get consecutive numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from backend import errors
from backend.llm.types import LLMRequest, Usage
from prototypes import selectors
from prototypes.models import IdempotencyKey, Prototype, PrototypeVariant, PrototypeVersion
from prototypes.services import prompts
from prototypes.services.crud import group_for_project
from prototypes.services.editing import unified_diff


@dataclass(frozen=True)
class Accepted:
    """A version waiting for its generation, with everything the generation needs.

    `replayed`: an earlier request with the same Idempotency-Key started it; nothing new runs.
    """

    version: PrototypeVersion
    request: LLMRequest | None
    base_html: str
    edit_prompt: str
    ids: dict[str, str | int]
    replayed: bool = False


# --- Idempotency and limits ------------------------------------------------------------------------------


def request_fingerprint(*, path: str, payload: dict[str, Any]) -> str:
    """A stable hash of a request, to tell a true retry from a reused Idempotency-Key."""
    canonical = json.dumps({"path": path, "body": payload}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(*, user: Any, key: str, fingerprint: str) -> Accepted | None:
    record = IdempotencyKey.objects.select_related("version__variant__prototype").filter(user=user, key=key).first()
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise errors.Conflict(
            "This Idempotency-Key was already used for a different request.", code="idempotency_key_reused"
        )
    version = record.version
    return Accepted(
        version=version,
        request=None,
        base_html="",
        edit_prompt=version.edit_prompt,
        ids=_ids(version, version.variant),
        replayed=True,
    )


def accept_once(
    *, user: Any, idempotency_key: str | None, fingerprint: str, accept: Callable[[], Accepted]
) -> Accepted:
    """Run `accept` unless this Idempotency-Key already started a generation (then replay that one).

    Raises Conflict when the key was used with a different request.
    """
    if not idempotency_key:
        return accept()
    replay = _replay(user=user, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            accepted = accept()
            IdempotencyKey.objects.create(
                user=user, key=idempotency_key, request_hash=fingerprint, version=accepted.version
            )
    except IntegrityError:
        # A concurrent request with the same key won the race: replay its version.
        replay = _replay(user=user, key=idempotency_key, fingerprint=fingerprint)
        if replay is None:
            raise
        return replay
    return accepted


def idempotency_keys_purge() -> int:
    """Forget Idempotency-Keys older than PROTOTYPE_IDEMPOTENCY_TTL_HOURS; returns how many."""
    horizon = timezone.now() - timedelta(hours=settings.PROTOTYPE_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=horizon).delete()
    return deleted


def _check_concurrency(user: Any) -> None:
    """At most PROTOTYPE_MAX_CONCURRENT_GENERATIONS generations of one user at a time."""
    running = PrototypeVersion.objects.filter(
        variant__prototype__project__user=user, status=PrototypeVersion.Status.STREAMING
    ).count()
    if running >= settings.PROTOTYPE_MAX_CONCURRENT_GENERATIONS:
        raise errors.RateLimited(
            "Too many prototypes are being generated at once. Wait for one to finish.",
            retry_after=5,
            code="too_many_generations",
        )


def _ids(version: PrototypeVersion, variant: PrototypeVariant) -> dict[str, str | int]:
    return {
        "design_project_id": str(variant.prototype.project_id),
        "prototype_id": str(variant.prototype_id),
        "variant_id": str(variant.id),
        "version_id": str(version.id),
        "version_number": version.version_number,  # an integer, as in the REST API
    }


def _next_number(variant: PrototypeVariant) -> int:
    PrototypeVariant.objects.select_for_update().filter(id=variant.id).first()
    current = variant.versions.aggregate(top=Max("version_number"))["top"]
    return (current or 0) + 1


def _name_from(prompt: str) -> str:
    first_line = prompt.strip().splitlines()[0] if prompt.strip() else "Prototype"
    return first_line[:80]


def prototype_generate(
    *, user: Any, project_id: UUID, prompt: str, name: str = "", group_id: UUID | None = None
) -> Accepted:
    """A new prototype from `prompt`: the prototype, its original variant and version 1 (streaming)."""
    with transaction.atomic():
        project = selectors.project_get(user=user, project_id=project_id)
        _check_concurrency(user)
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
            heartbeat_at=timezone.now(),
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
    *, user: Any, prototype_id: UUID, source_variant_id: UUID | None = None, prompt: str = "", name: str = ""
) -> Accepted:
    """A distinct alternative of a variant's latest good version (default: the original variant)."""
    with transaction.atomic():
        prototype = selectors.prototype_get(user=user, prototype_id=prototype_id)
        _check_concurrency(user)
        if source_variant_id is None:
            source = prototype.variants.filter(is_original=True).first()
        else:
            source = selectors.variant_get(user=user, variant_id=source_variant_id)
            if source.prototype_id != prototype.id:
                raise errors.ValidationFailed(
                    "The source variant belongs to another prototype.", code="variant_prototype_mismatch"
                )
        base = selectors.latest_good_version(variant=source) if source else None
        if source is None or base is None:
            raise errors.Conflict("The source variant has no complete version yet.", code="no_complete_version")
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
            heartbeat_at=timezone.now(),
        )
    request = prompts.variant_request(
        base_html=base.html_content, guidance=prompt, user_id=user.id, version_id=version.id
    )
    return Accepted(
        version=version, request=request, base_html=base.html_content, edit_prompt=prompt, ids=_ids(version, variant)
    )


def version_create(*, user: Any, variant_id: UUID, prompt: str) -> Accepted:
    """Edit the latest good version of a variant by prompt: the next version (streaming)."""
    with transaction.atomic():
        variant = selectors.variant_get(user=user, variant_id=variant_id)
        _check_concurrency(user)
        number = _next_number(variant)
        base = selectors.latest_good_version(variant=variant)
        if base is None:
            raise errors.Conflict("The variant has no complete version to edit yet.", code="no_complete_version")
        version = PrototypeVersion.objects.create(
            variant=variant,
            version_number=number,
            kind=PrototypeVersion.Kind.EDIT,
            base_version=base,
            edit_prompt=prompt,
            heartbeat_at=timezone.now(),
        )
    request = prompts.edit_request(base_html=base.html_content, prompt=prompt, user_id=user.id, version_id=version.id)
    return Accepted(
        version=version, request=request, base_html=base.html_content, edit_prompt=prompt, ids=_ids(version, variant)
    )


def version_revert(*, user: Any, version_id: UUID) -> PrototypeVersion:
    """A new version of the same variant whose page equals `version_id`'s; nothing is deleted."""
    with transaction.atomic():
        target = selectors.version_get(user=user, version_id=version_id)
        if target.status not in (PrototypeVersion.Status.COMPLETE, PrototypeVersion.Status.INCOMPLETE):
            raise errors.Conflict("Only a version with a page can be restored.", code="version_has_no_page")
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
    *, user: Any, version_id: UUID, against_id: UUID | None = None
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


def version_finish(
    *,
    version_id: UUID,
    status: str,
    raw_output: str,
    html: str = "",
    summary: str = "",
    edit_mode: str = "",
    sanitizer_notes: list[str] | None = None,
    model_id: str = "",
    stop_reason: str = "",
    usage: Usage | None = None,
    cost: Decimal = Decimal(0),
    error_code: str = "",
    error_message: str = "",
) -> bool:
    """Write the terminal state of a version, once. False if it was already terminal."""
    usage = usage or Usage()
    with transaction.atomic():
        version = (
            PrototypeVersion.objects.select_for_update(of=("self",))
            .select_related("base_version")
            .filter(id=version_id, status=PrototypeVersion.Status.STREAMING)
            .first()
        )
        if version is None:
            return False
        base = version.base_version
        diff = ""
        if html:
            diff = unified_diff(
                base.html_content if base and version.kind == PrototypeVersion.Kind.EDIT else "",
                html,
                before_label=f"v{base.version_number}"
                if base and version.kind == PrototypeVersion.Kind.EDIT
                else "empty",
                after_label=f"v{version.version_number}",
            )
        PrototypeVersion.objects.filter(id=version_id).update(
            status=status,
            raw_output=raw_output,
            html_content=html,
            diff=diff,
            summary=summary,
            edit_mode=edit_mode,
            sanitizer_notes=sanitizer_notes or [],
            model_id=model_id,
            stop_reason=stop_reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost=cost,
            error_code=error_code,
            error_message=error_message[:500],
            completed_at=timezone.now(),
        )
        PrototypeVariant.objects.filter(id=version.variant_id).update(updated_at=timezone.now())
    return True
