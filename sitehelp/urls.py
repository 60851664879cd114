"""The help app's URLs, mounted at the root: the widget API under /api/v1/help/, the pages under /ai/."""

from django.urls import path

from sitehelp import apis, views

API = "api/v1/help/"

urlpatterns = [
    path(f"{API}sessions/", apis.SessionCreateApi.as_view(), name="sitehelp-session-create"),
    path(f"{API}sessions/<uuid:session_id>/", apis.SessionDeleteApi.as_view(), name="sitehelp-session"),
    path(f"{API}sessions/<uuid:session_id>/messages/", apis.messages, name="sitehelp-messages"),
    path(f"{API}sessions/<uuid:session_id>/feedback/", apis.FeedbackApi.as_view(), name="sitehelp-feedback"),
    path(f"{API}sessions/<uuid:session_id>/export/", apis.ExportApi.as_view(), name="sitehelp-export"),
    path(f"{API}i18n/<str:language>/", apis.CatalogueApi.as_view(), name="sitehelp-catalogue"),
    path("ai/ask-ai/", views.ask_page, name="sitehelp-ask"),
    path("ai/ask-ai/stream/<uuid:message_id>/", views.ask_stream, name="sitehelp-ask-stream"),
    path("ai/widget-demo/", views.widget_demo, name="sitehelp-widget-demo"),
]
