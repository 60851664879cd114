"""Reads of the prototypes app. Every lookup is scoped to the owner: another user's id is a 404."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Count, OuterRef, QuerySet, Subquery

from appauth.models import AppUser
from backend import errors
from prototypes.errors import ErrorCode
from prototypes.models import DesignProject, Group, Prototype, PrototypeVariant, PrototypeVersion

# Columns a version list never needs (whole pages and diffs).
HEAVY_VERSION_FIELDS = ("html_content", "diff", "raw_output", "sanitizer_notes")


def _not_found(code: ErrorCode) -> errors.NotFound:
    what = code.removesuffix("_not_found").replace("_", " ")
    return errors.NotFound(f"No such {what}.", code=code)


# --- lookups ---------------------------------------------------------------------------------------


def project_get(*, user: AppUser, project_id: UUID) -> DesignProject:
    project = DesignProject.objects.filter(id=project_id, user=user).first()
    if project is None:
        raise _not_found(ErrorCode.DESIGN_PROJECT_NOT_FOUND)
    return project


def group_get(*, user: AppUser, group_id: UUID) -> Group:
    group = Group.objects.filter(id=group_id, project__user=user).select_related("project").first()
    if group is None:
        raise _not_found(ErrorCode.GROUP_NOT_FOUND)
    return group


def prototype_get(*, user: AppUser, prototype_id: UUID) -> Prototype:
    prototype = Prototype.objects.filter(id=prototype_id, project__user=user).select_related("project").first()
    if prototype is None:
        raise _not_found(ErrorCode.PROTOTYPE_NOT_FOUND)
    return prototype


def variant_get(*, user: AppUser, variant_id: UUID) -> PrototypeVariant:
    variant = (
        PrototypeVariant.objects.filter(id=variant_id, prototype__project__user=user)
        .select_related("prototype__project")
        .first()
    )
    if variant is None:
        raise _not_found(ErrorCode.VARIANT_NOT_FOUND)
    return variant


def version_get(*, user: AppUser, version_id: UUID) -> PrototypeVersion:
    version = (
        PrototypeVersion.objects.filter(id=version_id, variant__prototype__project__user=user)
        .select_related("variant__prototype")
        .first()
    )
    if version is None:
        raise _not_found(ErrorCode.VERSION_NOT_FOUND)
    return version


def latest_good_version(*, variant: PrototypeVariant) -> PrototypeVersion | None:
    """The newest `complete` version of a variant: what an edit or a variant starts from."""
    return variant.versions.filter(status=PrototypeVersion.Status.COMPLETE).order_by("-version_number").first()


# --- lists (cursor-paginated by the views; a constant number of queries per page) ----------------


def project_list(*, user: AppUser) -> QuerySet[DesignProject]:
    return DesignProject.objects.filter(user=user).annotate(
        prototypes_count=Count("prototypes", distinct=True), groups_count=Count("groups", distinct=True)
    )


def project_detail(*, user: AppUser, project_id: UUID) -> DesignProject:
    """A project with its counts, as the list shows it (the API's detail answers)."""
    project = project_list(user=user).filter(id=project_id).first()
    if project is None:
        raise _not_found(ErrorCode.DESIGN_PROJECT_NOT_FOUND)
    return project


def group_list(*, user: AppUser, project_id: UUID | None = None) -> QuerySet[Group]:
    groups = Group.objects.filter(project__user=user)
    if project_id is not None:
        groups = groups.filter(project_id=project_id)
    return groups.annotate(prototypes_count=Count("prototypes"))


def group_detail(*, user: AppUser, group_id: UUID) -> Group:
    """A group with its count of prototypes, as the list shows it."""
    group = group_list(user=user).filter(id=group_id).first()
    if group is None:
        raise _not_found(ErrorCode.GROUP_NOT_FOUND)
    return group


def prototype_list(
    *, user: AppUser, project_id: UUID | None = None, group_id: UUID | None = None
) -> QuerySet[Prototype]:
    prototypes = Prototype.objects.filter(project__user=user)
    if project_id is not None:
        prototypes = prototypes.filter(project_id=project_id)
    if group_id is not None:
        prototypes = prototypes.filter(group_id=group_id)
    latest = PrototypeVersion.objects.filter(variant__prototype=OuterRef("pk")).order_by("-created_at")
    return prototypes.annotate(
        variants_count=Count("variants", distinct=True),
        latest_version_id=Subquery(latest.values("id")[:1]),
        latest_version_status=Subquery(latest.values("status")[:1]),
    )


def variant_list(*, user: AppUser, prototype_id: UUID | None = None) -> QuerySet[PrototypeVariant]:
    variants = PrototypeVariant.objects.filter(prototype__project__user=user)
    if prototype_id is not None:
        variants = variants.filter(prototype_id=prototype_id)
    latest = PrototypeVersion.objects.filter(variant=OuterRef("pk")).order_by("-version_number")
    return variants.annotate(
        versions_count=Count("versions"),
        latest_version_id=Subquery(latest.values("id")[:1]),
        latest_version_number=Subquery(latest.values("version_number")[:1]),
    )


def version_list(*, user: AppUser, variant_id: UUID | None = None) -> QuerySet[PrototypeVersion]:
    versions = PrototypeVersion.objects.filter(variant__prototype__project__user=user)
    if variant_id is not None:
        versions = versions.filter(variant_id=variant_id)
    return versions.defer(*HEAVY_VERSION_FIELDS)


def preview_html(*, version_id: UUID) -> str:
    """The page a preview token grants (any user's: the signed token is the permission)."""
    html = PrototypeVersion.objects.filter(id=version_id).values_list("html_content", flat=True).first()
    if html is None:
        raise errors.NotFound("No such preview.", code=ErrorCode.PREVIEW_NOT_FOUND)
    return html
