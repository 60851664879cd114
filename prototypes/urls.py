"""Prototypes URLs under /api/v1/prototypes/.

One `APIView` per URL (typed `<uuid:id>` converters); the streaming endpoints are async
views. The preview page (`preview_urlpatterns`) is mounted at the site root
(`prototype-preview/<token>/`) so that a separate preview host can serve only it.
"""

from django.urls import path

from prototypes.apis import preview, rest, streaming

urlpatterns = [
    # generation (SSE)
    path("generate/", streaming.generate, name="prototypes-generate"),
    path("prototypes/<uuid:id>/create-variant/", streaming.create_variant, name="prototypes-create-variant"),
    path("variants/<uuid:id>/create-version/", streaming.create_version, name="prototypes-create-version"),
    path("versions/<uuid:id>/stream/", streaming.version_stream, name="prototypes-version-stream"),
    path("versions/<uuid:id>/stop/", streaming.version_stop, name="prototypes-version-stop"),
    path(
        "versions/<uuid:id>/stream-ticket/",
        streaming.VersionStreamTicketApi.as_view(),
        name="prototypes-version-stream-ticket",
    ),
    # design projects
    path("projects/", rest.DesignProjectListApi.as_view(), name="prototypes-project-list"),
    path("projects/<uuid:id>/", rest.DesignProjectDetailApi.as_view(), name="prototypes-project-detail"),
    path(
        "projects/<uuid:id>/prototypes/",
        rest.DesignProjectPrototypesApi.as_view(),
        name="prototypes-project-prototypes",
    ),
    # groups
    path("groups/", rest.GroupListApi.as_view(), name="prototypes-group-list"),
    path("groups/<uuid:id>/", rest.GroupDetailApi.as_view(), name="prototypes-group-detail"),
    path("groups/<uuid:id>/prototypes/", rest.GroupPrototypesApi.as_view(), name="prototypes-group-prototypes"),
    # prototypes
    path("prototypes/", rest.PrototypeListApi.as_view(), name="prototypes-prototype-list"),
    path("prototypes/<uuid:id>/", rest.PrototypeDetailApi.as_view(), name="prototypes-prototype-detail"),
    # variants
    path("variants/", rest.VariantListApi.as_view(), name="prototypes-variant-list"),
    path("variants/<uuid:id>/", rest.VariantDetailApi.as_view(), name="prototypes-variant-detail"),
    path("variants/<uuid:id>/versions/", rest.VariantVersionsApi.as_view(), name="prototypes-variant-versions"),
    # versions
    path("versions/", rest.VersionListApi.as_view(), name="prototypes-version-list"),
    path("versions/<uuid:id>/", rest.VersionDetailApi.as_view(), name="prototypes-version-detail"),
    path("versions/<uuid:id>/revert/", rest.VersionRevertApi.as_view(), name="prototypes-version-revert"),
    path("versions/<uuid:id>/diff/", rest.VersionDiffApi.as_view(), name="prototypes-version-diff"),
    path("versions/<uuid:id>/preview-url/", rest.VersionPreviewUrlApi.as_view(), name="prototypes-version-preview-url"),
    path("versions/<uuid:id>/export/", rest.VersionExportApi.as_view(), name="prototypes-version-export"),
]

# Mounted at prototype-preview/ by the project's urls.py.
preview_urlpatterns = [
    path("<str:token>/", preview.preview_page, name="prototype-preview"),
]
