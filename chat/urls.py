"""Chat URLs under /api/v1/chat/: streaming endpoints here, REST and attachments included."""

from django.urls import include, path

from chat.apis import streaming

urlpatterns = [
    path("messages/", streaming.message_create, name="chat-message-create"),
    path("messages/<uuid:message_id>/stream/", streaming.message_stream, name="chat-message-stream"),
    path("messages/<uuid:message_id>/stop/", streaming.message_stop, name="chat-message-stop"),
    path(
        "messages/<uuid:message_id>/stream-ticket/",
        streaming.MessageStreamTicketApi.as_view(),
        name="chat-message-stream-ticket",
    ),
    path("pairs/<uuid:pair_id>/edit/", streaming.pair_edit, name="chat-pair-edit"),
    path("pairs/<uuid:pair_id>/regenerate/", streaming.pair_regenerate, name="chat-pair-regenerate"),
    path("", include("chat.urls_rest")),
    path("", include("chat.urls_attachments")),
    path("", include("chat.urls_memory")),
]
