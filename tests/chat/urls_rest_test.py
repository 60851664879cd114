"""The chat REST API and the schema alone, so these tests do not depend on the rest of the chat URLs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/chat/", include("chat.urls_rest")),
]

handler404 = "backend.api.views.page_not_found"
handler500 = "backend.api.views.server_error"
