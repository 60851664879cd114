"""Root URL configuration. Each app mounts its own `urls.py` under /api/v1/."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend import health
from backend.api.views import api_not_found
from backend.storage import media_serve
from chat.urls import shared_urlpatterns
from prototypes.urls import preview_urlpatterns

# The admin's list pages get the whole width (the app list is one click away on the index).
admin.site.enable_nav_sidebar = False
admin.site.site_header = admin.site.site_title = f"{settings.SITE_NAME} administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/models/", include("backend.llm.urls")),
    path("api/v1/auth/", include("appauth.urls")),
    path("api/v1/chat/", include("chat.urls")),
    path("", include(shared_urlpatterns)),
    path("api/v1/prototypes/", include("prototypes.urls")),
    path("prototype-preview/", include(preview_urlpatterns)),
    path("ai-assistant/", include("adminassistant.urls")),
    path("", include("sitehelp.urls")),
    path("rosetta/", include("rosetta.urls")),
]

# Last: any other API path answers the JSON error shape, with DEBUG on too.
urlpatterns.append(re_path(r"^api/", api_not_found, name="api-not-found"))
urlpatterns.append(re_path(r"^ai-assistant/api/", api_not_found, name="ai-assistant-api-not-found"))

if settings.DEBUG:
    # Uploaded files on the local disk, for development only (production serves them from S3),
    # as downloads that never render as a page of this origin (backend.storage).
    urlpatterns += [
        re_path(
            rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.*)$",
            media_serve,
            kwargs={"document_root": str(settings.MEDIA_ROOT)},
        )
    ]
    # A start page at / and the pages the e-mail links open when there is no front end yet.
    from backend.core import devpages

    urlpatterns += devpages.urlpatterns()

handler400 = "backend.api.views.bad_request"
handler403 = "backend.api.views.permission_denied"
handler404 = "backend.api.views.page_not_found"
handler500 = "backend.api.views.server_error"
