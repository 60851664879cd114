"""The chat REST API (everything but sending, streaming and attachments); included under /api/v1/chat/."""

from django.urls import path

from chat.apis import assistant, chats, export, projects, prompts, shares, usage

urlpatterns = [
    path("chats/", chats.ChatListApi.as_view(), name="chat-list"),
    path("chats/search/", chats.ChatSearchApi.as_view(), name="chat-search"),
    path("chats/<uuid:chat_id>/", chats.ChatDetailApi.as_view(), name="chat-detail"),
    path("chats/<uuid:chat_id>/archive/", chats.ChatArchiveApi.as_view(), name="chat-archive"),
    path("chats/<uuid:chat_id>/unarchive/", chats.ChatUnarchiveApi.as_view(), name="chat-unarchive"),
    path("chats/<uuid:chat_id>/system-prompt/", chats.ChatSystemPromptApi.as_view(), name="chat-system-prompt"),
    path("chats/<uuid:chat_id>/messages/", chats.ChatMessagesApi.as_view(), name="chat-messages"),
    path("chats/<uuid:chat_id>/usage/", usage.ChatUsageApi.as_view(), name="chat-usage"),
    path("chats/<uuid:chat_id>/export/", export.ChatExportApi.as_view(), name="chat-export"),
    path("import/", export.ChatImportApi.as_view(), name="chat-import"),
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
    path("shares/", shares.ShareListApi.as_view(), name="chat-share-list"),
    path("shares/<uuid:share_id>/", shares.ShareDetailApi.as_view(), name="chat-share-detail"),
]
