"""Account API: sign-up invitations (staff only)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from appauth import selectors, services
from appauth.apis.accounts import AUTH_ERROR_RESPONSES, TAGS, client_info
from appauth.permissions import IsStaff
from appauth.serializers import InvitationCreatedSerializer, InvitationCreateInputSerializer, InvitationSerializer
from backend.api.pagination import DefaultCursorPagination
from backend.api.request import request_user, validated

STAFF_RESPONSES: dict[int, OpenApiResponse] = {
    **AUTH_ERROR_RESPONSES,
    403: OpenApiResponse(
        description="Staff only (`permission_denied`); `mfa_enrollment_required` while staff must use two-factor "
        "sign-in."
    ),
}


class InvitationListApi(APIView):
    permission_classes = [IsStaff]
    pagination_class = DefaultCursorPagination

    @extend_schema(
        tags=TAGS,
        responses={200: InvitationSerializer(many=True), **STAFF_RESPONSES},
        summary="Invitations, newest first (staff)",
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.invitation_list(), request, view=self)
        return paginator.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        request=InvitationCreateInputSerializer,
        responses={201: InvitationCreatedSerializer, **STAFF_RESPONSES},
        summary="Invite someone to sign up (staff); the code and link are shown once",
    )
    def post(self, request: Request) -> Response:
        data = validated(InvitationCreateInputSerializer, request.data)
        invitation, code = services.invitation_create(
            created_by=request_user(request), client=client_info(request), **data
        )
        body = InvitationSerializer(invitation).data
        body.update({"code": code, "link": services.invitation_link(code)})
        return Response(body, status=status.HTTP_201_CREATED)


class InvitationRevokeApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        tags=TAGS,
        responses={204: None, 404: OpenApiResponse(description="Unknown invitation."), **STAFF_RESPONSES},
        summary="Revoke an invitation (staff)",
    )
    def delete(self, request: Request, invitation_id: uuid.UUID) -> Response:
        services.invitation_revoke(invitation=selectors.invitation_get(invitation_id=invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
