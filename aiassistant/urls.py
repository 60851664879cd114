"""Root URL configuration. Each app mounts its own `urls.py` under /api/v1/."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/models/", include("backend.llm.urls")),
    path("api/v1/auth/", include("appauth.urls")),
    path("api/v1/chat/", include("chat.urls")),
    path("api/v1/prototypes/", include("prototypes.urls")),
    path("prototype-preview/", include("prototypes.urls_preview")),
    path("", include("sitehelp.urls")),
    path("rosetta/", include("rosetta.urls")),
]

if settings.DEBUG:
    # Uploaded files on the local disk, for development only (production serves them from S3).
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "backend.api.views.bad_request"
handler403 = "backend.api.views.permission_denied"
handler404 = "backend.api.views.page_not_found"
handler500 = "backend.api.views.server_error"
