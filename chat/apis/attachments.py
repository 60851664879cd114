"""Attachment endpoints: upload, read, delete, and a dry-run check of a file.

Thin views: validate the multipart form, call one service or selector, render. Every
attachment is visible to its owner only; any other id answers 404 `attachment_not_found`.
The error codes are the attachment section of `chat.errors.ErrorCode`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.request import request_user, validated
from backend.api.schema import error_responses
from backend.api.throttling import UploadThrottle
from backend.errors import PayloadTooLarge
from chat.errors import ErrorCode
from chat.selectors.attachments import attachment_get
from chat.serializers.attachments import (
    AttachmentDetailOutputSerializer,
    AttachmentOutputSerializer,
    FileCheckOutputSerializer,
    FileUploadInputSerializer,
)
from chat.services.attachments import attachment_check, attachment_create, attachment_delete

TAGS = ["chat attachments"]
ERROR_RESPONSES: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        description="`file_type_mismatch`, `invalid_image`, `empty_file`, `unknown_model` or a missing field."
    ),
    **error_responses(401),
    413: OpenApiResponse(description="`attachment_too_large`: over the upload cap or the model's document limit."),
    415: OpenApiResponse(description="`unsupported_file_type`: the content is not a supported image or document."),
    429: OpenApiResponse(description="`rate_limited`: over `UPLOAD_RATE_USER` uploads (Retry-After)."),
}


# Room for the multipart boundaries, headers and the `model` field around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024


def _validated_upload(request: Request) -> dict[str, Any]:
    """The form's fields. A body declared larger than any acceptable upload is refused unparsed."""
    cap = settings.CHAT_MAX_UPLOAD_BYTES
    declared = str(request.META.get("CONTENT_LENGTH") or "")
    if declared.isdigit() and int(declared) > cap + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge("The file is too large.", code=ErrorCode.ATTACHMENT_TOO_LARGE, details={"max_bytes": cap})
    return validated(FileUploadInputSerializer, request.data)


class AttachmentUploadApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadThrottle]

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": FileUploadInputSerializer},
        responses={201: AttachmentOutputSerializer, **ERROR_RESPONSES},
        summary="Upload a file for a message",
        description=(
            "Stores the file for a message still to be sent; pass its id in the message's `attachments`. "
            "Images over the model's limits are shrunk to fit. Unsent uploads are deleted after a while."
        ),
    )
    def post(self, request: Request) -> Response:
        data = _validated_upload(request)
        attachment = attachment_create(user=request_user(request), upload=data["file"], alias=data.get("model") or None)
        return Response(AttachmentOutputSerializer(attachment).data, status=status.HTTP_201_CREATED)


class AttachmentDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: AttachmentDetailOutputSerializer, 404: OpenApiResponse(description="`attachment_not_found`.")},
        summary="An attachment, with a download URL",
    )
    def get(self, request: Request, attachment_id: UUID) -> Response:
        attachment = attachment_get(user=request_user(request), attachment_id=attachment_id)
        return Response(AttachmentDetailOutputSerializer(attachment, context={"request": request}).data)

    @extend_schema(
        tags=TAGS,
        responses={
            204: None,
            404: OpenApiResponse(description="`attachment_not_found`."),
            409: OpenApiResponse(description="`attachment_in_use`: already sent with a message."),
        },
        summary="Delete an unsent upload",
    )
    def delete(self, request: Request, attachment_id: UUID) -> Response:
        attachment_delete(user=request_user(request), attachment_id=attachment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ValidateFileApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadThrottle]

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": FileUploadInputSerializer},
        responses={200: FileCheckOutputSerializer, **ERROR_RESPONSES},
        summary="Check a file without storing it",
        description="Answers what an upload of this file would be, or the error it would get.",
    )
    def post(self, request: Request) -> Response:
        data = _validated_upload(request)
        check = attachment_check(upload=data["file"], alias=data.get("model") or None)
        return Response(
            FileCheckOutputSerializer(
                {
                    "valid": True,
                    "kind": check.kind,
                    "format": check.format,
                    "mime_type": check.mime_type,
                    "size_bytes": check.size_bytes,
                    "width": check.width,
                    "height": check.height,
                    "will_downscale": check.will_downscale,
                }
            ).data
        )
