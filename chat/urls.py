"""Chat URLs, mounted under /api/v1/chat/ by the project's urls.py.

One module, several lists by area, so that a test can mount one area alone; `urlpatterns` is
all of them. `shared_urlpatterns` (shared chats, open to anyone with the link) are mounted at the
root instead.
"""

from django.urls import path

from chat.apis import assistant, attachments, chats, export, memory, projects, prompts, shares, streaming, usage

# Sending messages and streaming answers (async views on the streaming engine).
streaming_urlpatterns = [
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
]

# Chats, turns, projects and knowledge, saved prompts, usage, export, tool-call decisions.
rest_urlpatterns = [
    path("chats/", chats.ChatListApi.as_view(), name="chat-list"),
    path("chats/search/", chats.ChatSearchApi.as_view(), name="chat-search"),
    path("chats/<uuid:chat_id>/", chats.ChatDetailApi.as_view(), name="chat-detail"),
    path("chats/<uuid:chat_id>/archive/", chats.ChatArchiveApi.as_view(), name="chat-archive"),
    path("chats/<uuid:chat_id>/unarchive/", chats.ChatUnarchiveApi.as_view(), name="chat-unarchive"),
    path("chats/<uuid:chat_id>/system-prompt/", chats.ChatSystemPromptApi.as_view(), name="chat-system-prompt"),
    path("chats/<uuid:chat_id>/messages/", chats.ChatMessagesApi.as_view(), name="chat-messages"),
    path(
        "chats/<uuid:chat_id>/title/regenerate/", chats.ChatTitleRegenerateApi.as_view(), name="chat-title-regenerate"
    ),
    path("chats/<uuid:chat_id>/usage/", usage.ChatUsageApi.as_view(), name="chat-usage"),
    path("chats/<uuid:chat_id>/export/", export.ChatExportApi.as_view(), name="chat-export"),
    path("import/", export.ChatImportApi.as_view(), name="chat-import"),
    path("shares/", shares.ShareListApi.as_view(), name="chat-share-list"),
    path("shares/<uuid:share_id>/", shares.ShareDetailApi.as_view(), name="chat-share-detail"),
    path("pairs/<uuid:pair_id>/", chats.PairDetailApi.as_view(), name="pair-detail"),
    path("pairs/<uuid:pair_id>/siblings/", chats.PairSiblingsApi.as_view(), name="pair-siblings"),
    path("pairs/<uuid:pair_id>/switch/", chats.PairSwitchApi.as_view(), name="pair-switch"),
    path("pairs/<uuid:pair_id>/toggle/", chats.PairToggleApi.as_view(), name="pair-toggle"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<uuid:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<uuid:project_id>/knowledge/", projects.ProjectKnowledgeApi.as_view(), name="project-knowledge"),
    path("projects/<uuid:project_id>/chats/", projects.ProjectChatsApi.as_view(), name="project-chats"),
    path("projects/<uuid:project_id>/usage/", usage.ProjectUsageApi.as_view(), name="project-usage"),
    path("projects/<uuid:project_id>/search/", assistant.ProjectSearchApi.as_view(), name="project-search"),
    path(
        "messages/<uuid:message_id>/tool-calls/<str:call_id>/confirm/",
        assistant.ToolCallConfirmApi.as_view(),
        name="chat-tool-call-confirm",
    ),
    path(
        "messages/<uuid:message_id>/tool-calls/<str:call_id>/reject/",
        assistant.ToolCallRejectApi.as_view(),
        name="chat-tool-call-reject",
    ),
    path("knowledge/", projects.KnowledgeListApi.as_view(), name="knowledge-list"),
    path("knowledge/upload/", assistant.KnowledgeUploadApi.as_view(), name="knowledge-upload"),
    path("knowledge/<uuid:knowledge_id>/", projects.KnowledgeDetailApi.as_view(), name="knowledge-detail"),
    path("knowledge/<uuid:knowledge_id>/toggle/", projects.KnowledgeToggleApi.as_view(), name="knowledge-toggle"),
    path("prompts/", prompts.SavedPromptListApi.as_view(), name="prompt-list"),
    path("prompts/<uuid:prompt_id>/", prompts.SavedPromptDetailApi.as_view(), name="prompt-detail"),
    path("usage/", usage.UserUsageApi.as_view(), name="usage"),
]

# Files sent with messages.
attachment_urlpatterns = [
    path("attachments/", attachments.AttachmentUploadApi.as_view(), name="attachment-upload"),
    path("attachments/<uuid:attachment_id>/", attachments.AttachmentDetailApi.as_view(), name="attachment-detail"),
    path("validate-file/", attachments.ValidateFileApi.as_view(), name="validate-file"),
]

# What the assistant remembers about the user.
memory_urlpatterns = [
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
]

# Shared chats: the public JSON API and the read-only page (mounted at the root).
shared_urlpatterns = [
    path("api/v1/shared/<str:token>/", shares.SharedChatApi.as_view(), name="chat-shared"),
    path(
        "api/v1/shared/<str:token>/attachments/<uuid:attachment_id>/",
        shares.SharedAttachmentApi.as_view(),
        name="chat-shared-attachment",
    ),
    path("shared/<str:token>/", shares.shared_page, name="chat-shared-page"),
]

urlpatterns = streaming_urlpatterns + rest_urlpatterns + attachment_urlpatterns + memory_urlpatterns
