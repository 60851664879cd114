"""Shared chats, open to anyone with the link (mounted at the root): the JSON API and the read-only page."""

from django.urls import path

from chat.apis import shares

urlpatterns = [
    path("api/v1/shared/<str:token>/", shares.SharedChatApi.as_view(), name="chat-shared"),
    path(
        "api/v1/shared/<str:token>/attachments/<uuid:attachment_id>/",
        shares.SharedAttachmentApi.as_view(),
        name="chat-shared-attachment",
    ),
    path("shared/<str:token>/", shares.shared_page, name="chat-shared-page"),
]
