"""The prototypes REST API: design projects, groups, prototypes, variants and versions.

Thin views, one `APIView` per URL: validate → one service or selector → render. Every id is
looked up among the requesting user's rows (another user's id is a 404). Lists are
cursor-paginated with a fixed number of queries per page. Generating (generate,
create-variant, create-version) streams and lives in `prototypes.apis.streaming`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.pagination import CursorPagination, NewestFirstPagination, OldestFirstPagination, PaginatedApi
from backend.api.request import request_user, validated
from backend.api.schema import ERRORS
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


class NewestVersionFirstPagination(CursorPagination):
    ordering = ("-version_number", "-id")


# --- design projects ---------------------------------------------------------------------------------


class DesignProjectListApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS, responses={200: DesignProjectSerializer(many=True), **ERRORS}, summary="List design projects"
    )
    def get(self, request: Request) -> Response:
        return self.paginated(request, selectors.project_list(user=request_user(request)), DesignProjectSerializer)

    @extend_schema(
        tags=TAGS,
        request=DesignProjectInputSerializer,
        responses={201: DesignProjectSerializer, **ERRORS},
        summary="Create",
    )
    def post(self, request: Request) -> Response:
        data = validated(DesignProjectInputSerializer, request.data)
        project = crud.project_create(user=request_user(request), **data)
        return Response(DesignProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class DesignProjectDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: DesignProjectSerializer, **ERRORS}, summary="A design project")
    def get(self, request: Request, id: UUID) -> Response:
        project = selectors.project_detail(user=request_user(request), project_id=id)
        return Response(DesignProjectSerializer(project).data)

    @extend_schema(
        tags=TAGS,
        request=DesignProjectInputSerializer,
        responses={200: DesignProjectSerializer, **ERRORS},
        summary="Replace a design project's name and description",
    )
    def put(self, request: Request, id: UUID) -> Response:
        return self._update(request, id, validated(DesignProjectInputSerializer, request.data))

    @extend_schema(
        tags=TAGS,
        request=DesignProjectInputSerializer,
        responses={200: DesignProjectSerializer, **ERRORS},
        summary="Change a design project's name or description",
    )
    def patch(self, request: Request, id: UUID) -> Response:
        return self._update(request, id, validated(DesignProjectInputSerializer, request.data, partial=True))

    @extend_schema(tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a design project and everything in it")
    def delete(self, request: Request, id: UUID) -> Response:
        crud.project_delete(user=request_user(request), project_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, id: UUID, data: dict[str, Any]) -> Response:
        user = request_user(request)
        crud.project_update(user=user, project_id=id, **data)
        return Response(DesignProjectSerializer(selectors.project_detail(user=user, project_id=id)).data)


class DesignProjectPrototypesApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS, responses={200: PrototypeSerializer(many=True), **ERRORS}, summary="Prototypes of a design project"
    )
    def get(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        project = selectors.project_get(user=user, project_id=id)
        return self.paginated(request, selectors.prototype_list(user=user, project_id=project.id), PrototypeSerializer)


# --- groups -----------------------------------------------------------------------------------------------


class GroupListApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("design_project", OpenApiTypes.UUID, description="Only this project's groups")],
        responses={200: GroupSerializer(many=True), **ERRORS},
        summary="List groups",
    )
    def get(self, request: Request) -> Response:
        query = validated(ListQuerySerializer, request.query_params)
        groups = selectors.group_list(user=request_user(request), project_id=query.get("design_project"))
        return self.paginated(request, groups, GroupSerializer)

    @extend_schema(
        tags=TAGS, request=GroupInputSerializer, responses={201: GroupSerializer, **ERRORS}, summary="Create a group"
    )
    def post(self, request: Request) -> Response:
        data = validated(GroupInputSerializer, request.data)
        group = crud.group_create(
            user=request_user(request),
            project_id=data["design_project_id"],
            name=data["name"],
            description=data.get("description", ""),
        )
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: GroupSerializer, **ERRORS}, summary="A group")
    def get(self, request: Request, id: UUID) -> Response:
        return Response(GroupSerializer(selectors.group_detail(user=request_user(request), group_id=id)).data)

    @extend_schema(
        tags=TAGS,
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **ERRORS},
        summary="Change a group's name or description",
    )
    def patch(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        data = validated(GroupUpdateSerializer, request.data, partial=True)
        crud.group_update(user=user, group_id=id, **data)
        return Response(GroupSerializer(selectors.group_detail(user=user, group_id=id)).data)

    @extend_schema(
        tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a group (its prototypes become ungrouped)"
    )
    def delete(self, request: Request, id: UUID) -> Response:
        crud.group_delete(user=request_user(request), group_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupPrototypesApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS, responses={200: PrototypeSerializer(many=True), **ERRORS}, summary="Prototypes of a group"
    )
    def get(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        group = selectors.group_get(user=user, group_id=id)
        return self.paginated(request, selectors.prototype_list(user=user, group_id=group.id), PrototypeSerializer)


# --- prototypes -----------------------------------------------------------------------------------------


class PrototypeListApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("design_project", OpenApiTypes.UUID, description="Only this project's prototypes"),
            OpenApiParameter("group", OpenApiTypes.UUID, description="Only this group's prototypes"),
        ],
        responses={200: PrototypeSerializer(many=True), **ERRORS},
        summary="List prototypes (create them with `generate`)",
    )
    def get(self, request: Request) -> Response:
        query = validated(ListQuerySerializer, request.query_params)
        prototypes = selectors.prototype_list(
            user=request_user(request), project_id=query.get("design_project"), group_id=query.get("group")
        )
        return self.paginated(request, prototypes, PrototypeSerializer)


class PrototypeDetailApi(APIView):
    @extend_schema(
        tags=TAGS, responses={200: PrototypeDetailSerializer, **ERRORS}, summary="A prototype with its variants"
    )
    def get(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        prototype = selectors.prototype_list(user=user).filter(id=id).first()
        if prototype is None:
            selectors.prototype_get(user=user, prototype_id=id)  # raises the 404
        variants = selectors.variant_list(user=user, prototype_id=id).order_by("created_at")
        return Response(PrototypeDetailSerializer(prototype, context={"variants": list(variants)}).data)

    @extend_schema(
        tags=TAGS,
        request=PrototypeUpdateSerializer,
        responses={200: PrototypeSerializer, **ERRORS},
        summary="Rename a prototype or move it to another group",
    )
    def patch(self, request: Request, id: UUID) -> Response:
        data = validated(PrototypeUpdateSerializer, request.data, partial=True)
        prototype = crud.prototype_update(user=request_user(request), prototype_id=id, **data)
        return Response(PrototypeSerializer(prototype).data)

    @extend_schema(
        tags=TAGS, responses={204: None, **ERRORS}, summary="Delete a prototype with its variants and versions"
    )
    def delete(self, request: Request, id: UUID) -> Response:
        crud.prototype_delete(user=request_user(request), prototype_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- variants ---------------------------------------------------------------------------------------------


class VariantListApi(PaginatedApi):
    pagination_class = OldestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("prototype", OpenApiTypes.UUID, description="Only this prototype's variants")],
        responses={200: VariantSerializer(many=True), **ERRORS},
        summary="List variants, oldest first",
    )
    def get(self, request: Request) -> Response:
        query = validated(ListQuerySerializer, request.query_params)
        variants = selectors.variant_list(user=request_user(request), prototype_id=query.get("prototype"))
        return self.paginated(request, variants, VariantSerializer)


class VariantDetailApi(APIView):
    @extend_schema(tags=TAGS, responses={200: VariantSerializer, **ERRORS}, summary="A variant")
    def get(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        variant = selectors.variant_list(user=user).filter(id=id).first()
        if variant is None:
            selectors.variant_get(user=user, variant_id=id)  # raises the 404
        return Response(VariantSerializer(variant).data)

    @extend_schema(
        tags=TAGS, request=VariantUpdateSerializer, responses={200: VariantSerializer, **ERRORS}, summary="Rename"
    )
    def patch(self, request: Request, id: UUID) -> Response:
        data = validated(VariantUpdateSerializer, request.data)
        variant = crud.variant_update(user=request_user(request), variant_id=id, **data)
        return Response(VariantSerializer(variant).data)

    @extend_schema(
        tags=TAGS,
        responses={204: None, 409: OpenApiResponse(description="The original variant."), **ERRORS},
        summary="Delete a variant (not the original)",
    )
    def delete(self, request: Request, id: UUID) -> Response:
        crud.variant_delete(user=request_user(request), variant_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VariantVersionsApi(PaginatedApi):
    pagination_class = NewestVersionFirstPagination

    @extend_schema(
        tags=TAGS,
        responses={200: VersionSerializer(many=True), **ERRORS},
        summary="Versions of a variant, newest first",
    )
    def get(self, request: Request, id: UUID) -> Response:
        user = request_user(request)
        variant = selectors.variant_get(user=user, variant_id=id)
        return self.paginated(request, selectors.version_list(user=user, variant_id=variant.id), VersionSerializer)


# --- versions -----------------------------------------------------------------------------------------------


class VersionListApi(PaginatedApi):
    pagination_class = NewestFirstPagination

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("variant", OpenApiTypes.UUID, description="Only this variant's versions")],
        responses={200: VersionSerializer(many=True), **ERRORS},
        summary="List versions (without their pages)",
    )
    def get(self, request: Request) -> Response:
        query = validated(ListQuerySerializer, request.query_params)
        version_list = selectors.version_list(user=request_user(request), variant_id=query.get("variant"))
        return self.paginated(request, version_list, VersionSerializer)


class VersionDetailApi(APIView):
    @extend_schema(
        tags=TAGS, responses={200: VersionDetailSerializer, **ERRORS}, summary="A version with its page and diff"
    )
    def get(self, request: Request, id: UUID) -> Response:
        return Response(VersionDetailSerializer(selectors.version_get(user=request_user(request), version_id=id)).data)


class VersionRevertApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={201: VersionDetailSerializer, 409: OpenApiResponse(description="No page to restore."), **ERRORS},
        summary="Restore: a new version equal to this one (nothing is deleted)",
    )
    def post(self, request: Request, id: UUID) -> Response:
        version = versions.version_revert(user=request_user(request), version_id=id)
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDiffApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[DiffQuerySerializer],
        responses={200: DiffSerializer, **ERRORS},
        summary="Unified diff of two pages",
    )
    def get(self, request: Request, id: UUID) -> Response:
        query = validated(DiffQuerySerializer, request.query_params)
        version, against, diff = versions.version_diff(
            user=request_user(request), version_id=id, against_id=query.get("against")
        )
        data = {"version_id": version.id, "against_version_id": against.id if against else None, "diff": diff}
        return Response(DiffSerializer(data).data)


class VersionPreviewUrlApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: PreviewLinkSerializer, **ERRORS},
        summary="A signed, short-lived URL of this version's sandboxed preview",
    )
    def get(self, request: Request, id: UUID) -> Response:
        version = selectors.version_get(user=request_user(request), version_id=id)
        link = preview.preview_link(version_id=version.id, request=request)
        return Response(PreviewLinkSerializer({"url": link.url, "expires_at": link.expires_at}).data)


class VersionExportApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.BINARY, description="A self-contained page")},
        summary="Download the page as one self-contained HTML file",
    )
    def get(self, request: Request, id: UUID) -> HttpResponse:
        version = selectors.version_get(user=request_user(request), version_id=id)
        response = HttpResponse(render_document(version.html_content), content_type="text/html; charset=utf-8")
        filename = f"prototype-{version.variant.prototype_id}-v{version.version_number}.html"
        for name, value in preview.export_headers(filename=filename).items():
            response[name] = value
        return response
