"""The prototypes REST API: design projects, groups, prototypes, variants and versions.

Thin viewsets: validate → one service or selector → render. Every id is looked up among the
requesting user's rows (another user's id is a 404). Lists are cursor-paginated with a fixed
number of queries per page. Generating (generate, create-variant, create-version) streams and
lives in `prototypes.apis.streaming`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from backend.api.pagination import CursorPagination
from prototypes import selectors
from prototypes.serializers import (
    DesignProjectInputSerializer,
    DesignProjectSerializer,
    DiffQuerySerializer,
    DiffSerializer,
    GroupInputSerializer,
    GroupSerializer,
    GroupUpdateSerializer,
    ListQuerySerializer,
    PreviewLinkSerializer,
    PrototypeDetailSerializer,
    PrototypeSerializer,
    PrototypeUpdateSerializer,
    VariantSerializer,
    VariantUpdateSerializer,
    VersionDetailSerializer,
    VersionSerializer,
)
from prototypes.services import crud, preview, versions
from prototypes.services.documents import render_document

TAGS = ["prototypes"]
ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(description="Invalid input: `{error: {code, message, details}}`."),
    401: OpenApiResponse(description="Not authenticated."),
    404: OpenApiResponse(description="Not found (or another user's)."),
}


def valid(serializer_class: type[BaseSerializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")


class OldestFirst(NewestFirst):
    ordering = ("created_at", "id")


class NewestVersionFirst(NewestFirst):
    ordering = ("-version_number", "-id")


class _Base(viewsets.GenericViewSet):
    lookup_field = "id"
    lookup_value_regex = "[0-9a-f-]{36}"

    def page(self, queryset: QuerySet[Any], serializer_class: type[BaseSerializer]) -> Response:
        paginator = self.pagination_class() if self.pagination_class else NewestFirst()
        items = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(items, many=True).data)


def _prototypes_page(view: _Base, queryset: QuerySet[Any]) -> Response:
    paginator = NewestFirst()
    items = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(PrototypeSerializer(items, many=True).data)


# --- design projects ---------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class DesignProjectViewSet(_Base):
    pagination_class = NewestFirst
    serializer_class = DesignProjectSerializer

    @extend_schema(responses={200: DesignProjectSerializer(many=True), **ERRORS}, summary="List design projects")
    def list(self, request: Request) -> Response:
        return self.page(selectors.project_list(user=request.user), DesignProjectSerializer)

    @extend_schema(
        request=DesignProjectInputSerializer, responses={201: DesignProjectSerializer, **ERRORS}, summary="Create"
    )
    def create(self, request: Request) -> Response:
        project = crud.project_create(user=request.user, **valid(DesignProjectInputSerializer, request.data))
        return Response(DesignProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: DesignProjectSerializer, **ERRORS}, summary="A design project")
    def retrieve(self, request: Request, id: UUID) -> Response:
        return Response(DesignProjectSerializer(selectors.project_detail(user=request.user, project_id=id)).data)

    @extend_schema(
        request=DesignProjectInputSerializer,
        responses={200: DesignProjectSerializer, **ERRORS},
        summary="Replace a design project's name and description",
    )
    def update(self, request: Request, id: UUID) -> Response:
        data = valid(DesignProjectInputSerializer, request.data)
        crud.project_update(user=request.user, project_id=id, **data)
        return Response(DesignProjectSerializer(selectors.project_detail(user=request.user, project_id=id)).data)

    @extend_schema(
        request=DesignProjectInputSerializer,
        responses={200: DesignProjectSerializer, **ERRORS},
        summary="Change a design project's name or description",
    )
    def partial_update(self, request: Request, id: UUID) -> Response:
        data = valid(DesignProjectInputSerializer, request.data, partial=True)
        crud.project_update(user=request.user, project_id=id, **data)
        return Response(DesignProjectSerializer(selectors.project_detail(user=request.user, project_id=id)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a design project and everything in it")
    def destroy(self, request: Request, id: UUID) -> Response:
        crud.project_delete(user=request.user, project_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: PrototypeSerializer(many=True), **ERRORS}, summary="Prototypes of a design project")
    @action(detail=True, methods=["get"])
    def prototypes(self, request: Request, id: UUID) -> Response:
        project = selectors.project_get(user=request.user, project_id=id)
        return _prototypes_page(self, selectors.prototype_list(user=request.user, project_id=project.id))


# --- groups -----------------------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class GroupViewSet(_Base):
    pagination_class = NewestFirst
    serializer_class = GroupSerializer

    @extend_schema(
        parameters=[OpenApiParameter("design_project", OpenApiTypes.UUID, description="Only this project's groups")],
        responses={200: GroupSerializer(many=True), **ERRORS},
        summary="List groups",
    )
    def list(self, request: Request) -> Response:
        query = valid(ListQuerySerializer, request.query_params)
        return self.page(
            selectors.group_list(user=request.user, project_id=query.get("design_project")), GroupSerializer
        )

    @extend_schema(request=GroupInputSerializer, responses={201: GroupSerializer, **ERRORS}, summary="Create a group")
    def create(self, request: Request) -> Response:
        data = valid(GroupInputSerializer, request.data)
        group = crud.group_create(
            user=request.user,
            project_id=data["design_project_id"],
            name=data["name"],
            description=data.get("description", ""),
        )
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: GroupSerializer, **ERRORS}, summary="A group")
    def retrieve(self, request: Request, id: UUID) -> Response:
        return Response(GroupSerializer(selectors.group_detail(user=request.user, group_id=id)).data)

    @extend_schema(
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **ERRORS},
        summary="Change a group's name or description",
    )
    def partial_update(self, request: Request, id: UUID) -> Response:
        data = valid(GroupUpdateSerializer, request.data, partial=True)
        crud.group_update(user=request.user, group_id=id, **data)
        return Response(GroupSerializer(selectors.group_detail(user=request.user, group_id=id)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a group (its prototypes become ungrouped)")
    def destroy(self, request: Request, id: UUID) -> Response:
        crud.group_delete(user=request.user, group_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: PrototypeSerializer(many=True), **ERRORS}, summary="Prototypes of a group")
    @action(detail=True, methods=["get"])
    def prototypes(self, request: Request, id: UUID) -> Response:
        group = selectors.group_get(user=request.user, group_id=id)
        return _prototypes_page(self, selectors.prototype_list(user=request.user, group_id=group.id))


# --- prototypes -----------------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class PrototypeViewSet(_Base):
    pagination_class = NewestFirst
    serializer_class = PrototypeSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("design_project", OpenApiTypes.UUID, description="Only this project's prototypes"),
            OpenApiParameter("group", OpenApiTypes.UUID, description="Only this group's prototypes"),
        ],
        responses={200: PrototypeSerializer(many=True), **ERRORS},
        summary="List prototypes (create them with `generate`)",
    )
    def list(self, request: Request) -> Response:
        query = valid(ListQuerySerializer, request.query_params)
        prototypes = selectors.prototype_list(
            user=request.user, project_id=query.get("design_project"), group_id=query.get("group")
        )
        return self.page(prototypes, PrototypeSerializer)

    @extend_schema(responses={200: PrototypeDetailSerializer, **ERRORS}, summary="A prototype with its variants")
    def retrieve(self, request: Request, id: UUID) -> Response:
        prototype = selectors.prototype_list(user=request.user).filter(id=id).first()
        if prototype is None:
            selectors.prototype_get(user=request.user, prototype_id=id)  # raises the 404
        variants = selectors.variant_list(user=request.user, prototype_id=id).order_by("created_at")
        return Response(PrototypeDetailSerializer(prototype, context={"variants": list(variants)}).data)

    @extend_schema(
        request=PrototypeUpdateSerializer,
        responses={200: PrototypeSerializer, **ERRORS},
        summary="Rename a prototype or move it to another group",
    )
    def partial_update(self, request: Request, id: UUID) -> Response:
        data = valid(PrototypeUpdateSerializer, request.data, partial=True)
        return Response(PrototypeSerializer(crud.prototype_update(user=request.user, prototype_id=id, **data)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a prototype with its variants and versions")
    def destroy(self, request: Request, id: UUID) -> Response:
        crud.prototype_delete(user=request.user, prototype_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- variants ---------------------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class PrototypeVariantViewSet(_Base):
    pagination_class = OldestFirst
    serializer_class = VariantSerializer

    @extend_schema(
        parameters=[OpenApiParameter("prototype", OpenApiTypes.UUID, description="Only this prototype's variants")],
        responses={200: VariantSerializer(many=True), **ERRORS},
        summary="List variants, oldest first",
    )
    def list(self, request: Request) -> Response:
        query = valid(ListQuerySerializer, request.query_params)
        return self.page(
            selectors.variant_list(user=request.user, prototype_id=query.get("prototype")), VariantSerializer
        )

    @extend_schema(responses={200: VariantSerializer, **ERRORS}, summary="A variant")
    def retrieve(self, request: Request, id: UUID) -> Response:
        variant = selectors.variant_list(user=request.user).filter(id=id).first()
        if variant is None:
            selectors.variant_get(user=request.user, variant_id=id)
        return Response(VariantSerializer(variant).data)

    @extend_schema(request=VariantUpdateSerializer, responses={200: VariantSerializer, **ERRORS}, summary="Rename")
    def partial_update(self, request: Request, id: UUID) -> Response:
        data = valid(VariantUpdateSerializer, request.data)
        return Response(VariantSerializer(crud.variant_update(user=request.user, variant_id=id, **data)).data)

    @extend_schema(
        responses={204: None, 409: OpenApiResponse(description="The original variant."), **ERRORS},
        summary="Delete a variant (not the original)",
    )
    def destroy(self, request: Request, id: UUID) -> Response:
        crud.variant_delete(user=request.user, variant_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={200: VersionSerializer(many=True), **ERRORS}, summary="Versions of a variant, newest first"
    )
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, id: UUID) -> Response:
        variant = selectors.variant_get(user=request.user, variant_id=id)
        paginator = NewestVersionFirst()
        items = paginator.paginate_queryset(
            selectors.version_list(user=request.user, variant_id=variant.id), request, view=self
        )
        return paginator.get_paginated_response(VersionSerializer(items, many=True).data)


# --- versions -----------------------------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class PrototypeVersionViewSet(_Base):
    pagination_class = NewestFirst
    serializer_class = VersionSerializer

    @extend_schema(
        parameters=[OpenApiParameter("variant", OpenApiTypes.UUID, description="Only this variant's versions")],
        responses={200: VersionSerializer(many=True), **ERRORS},
        summary="List versions (without their pages)",
    )
    def list(self, request: Request) -> Response:
        query = valid(ListQuerySerializer, request.query_params)
        return self.page(selectors.version_list(user=request.user, variant_id=query.get("variant")), VersionSerializer)

    @extend_schema(responses={200: VersionDetailSerializer, **ERRORS}, summary="A version with its page and diff")
    def retrieve(self, request: Request, id: UUID) -> Response:
        return Response(VersionDetailSerializer(selectors.version_get(user=request.user, version_id=id)).data)

    @extend_schema(
        request=None,
        responses={201: VersionDetailSerializer, 409: OpenApiResponse(description="No page to restore."), **ERRORS},
        summary="Restore: a new version equal to this one (nothing is deleted)",
    )
    @action(detail=True, methods=["post"])
    def revert(self, request: Request, id: UUID) -> Response:
        version = versions.version_revert(user=request.user, version_id=id)
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[DiffQuerySerializer], responses={200: DiffSerializer, **ERRORS}, summary="Unified diff of two pages"
    )
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, id: UUID) -> Response:
        query = valid(DiffQuerySerializer, request.query_params)
        version, against, diff = versions.version_diff(
            user=request.user, version_id=id, against_id=query.get("against")
        )
        data = {"version_id": version.id, "against_version_id": against.id if against else None, "diff": diff}
        return Response(DiffSerializer(data).data)

    @extend_schema(
        responses={200: PreviewLinkSerializer, **ERRORS},
        summary="A signed, short-lived URL of this version's sandboxed preview",
    )
    @action(detail=True, methods=["get"], url_path="preview-url")
    def preview_url(self, request: Request, id: UUID) -> Response:
        version = selectors.version_get(user=request.user, version_id=id)
        link = preview.preview_link(version_id=version.id, request=request)
        return Response(PreviewLinkSerializer({"url": link.url, "expires_at": link.expires_at}).data)

    @extend_schema(
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.BINARY, description="A self-contained page")},
        summary="Download the page as one self-contained HTML file",
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, id: UUID) -> HttpResponse:
        version = selectors.version_get(user=request.user, version_id=id)
        response = HttpResponse(render_document(version.html_content), content_type="text/html; charset=utf-8")
        filename = f"prototype-{version.variant.prototype_id}-v{version.version_number}.html"
        for name, value in preview.export_headers(filename=filename).items():
            response[name] = value
        return response
