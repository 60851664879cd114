"""The chat REST API and the schema alone, so these tests do not depend on the rest of the chat URLs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from chat.urls import rest_urlpatterns

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/chat/", include(rest_urlpatterns)),
]

handler404 = "backend.api.views.page_not_found"
handler500 = "backend.api.views.server_error"
