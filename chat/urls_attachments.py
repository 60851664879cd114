"""Attachment routes, included by `chat.urls` under /api/v1/chat/."""

from django.urls import path

from chat.apis.attachments import AttachmentDetailApi, AttachmentUploadApi, ValidateFileApi

urlpatterns = [
    path("attachments/", AttachmentUploadApi.as_view(), name="attachment-upload"),
    path("attachments/<uuid:attachment_id>/", AttachmentDetailApi.as_view(), name="attachment-detail"),
    path("validate-file/", ValidateFileApi.as_view(), name="validate-file"),
]
