"""Mounted at /ai-assistant/ (the paths of the seed's API surface, without trailing slashes)."""

from django.urls import path

from adminassistant import apis

urlpatterns = [
    path("api/chats", apis.ChatsApi.as_view(), name="adminassistant-chats"),
    path("api/chats/<uuid:id>", apis.ChatDetailApi.as_view(), name="adminassistant-chat"),
    path("api/chats/<uuid:id>/message", apis.message, name="adminassistant-message"),
    path("api/settings/check", apis.SettingsCheckApi.as_view(), name="adminassistant-settings-check"),
    path("api/results/<uuid:id>/csv", apis.ResultCsvApi.as_view(), name="adminassistant-result-csv"),
]
