"""Memory and title URLs under /api/v1/chat/ (included by chat/urls.py)."""

from django.urls import path

from chat.apis import memory

urlpatterns = [
    path("memories/", memory.MemoryListApi.as_view(), name="memory-list"),
    path("memories/stats/", memory.MemoryStatsApi.as_view(), name="memory-stats"),
    path("memories/settings/", memory.MemorySettingsApi.as_view(), name="memory-settings"),
    path("memories/context/", memory.MemoryContextApi.as_view(), name="memory-context"),
    path("memories/<uuid:memory_id>/", memory.MemoryDetailApi.as_view(), name="memory-detail"),
    path("memories/<uuid:memory_id>/verify/", memory.MemoryVerifyApi.as_view(), name="memory-verify"),
    path("memory-tags/", memory.MemoryTagListApi.as_view(), name="memory-tag-list"),
    path("memory-tags/<int:tag_id>/", memory.MemoryTagDetailApi.as_view(), name="memory-tag-detail"),
    path(
        "chats/<uuid:chat_id>/extract-memories/", memory.ChatExtractMemoriesApi.as_view(), name="chat-extract-memories"
    ),
    path(
        "chats/<uuid:chat_id>/title/regenerate/", memory.ChatTitleRegenerateApi.as_view(), name="chat-title-regenerate"
    ),
]
