"""Prototypes URLs under /api/v1/prototypes/.

Viewsets are mapped with explicit `path()` routes (typed `<uuid:id>` converters rather than a
router's regexes); the streaming endpoints are async views. The preview page is mounted at
the site root (`prototype-preview/<token>/`, see `prototypes.urls_preview`) so that a separate
preview host can serve only it.
"""

from typing import Any

from django.urls import path

from prototypes.apis import rest, streaming

LIST: dict[str, Any] = {"get": "list", "post": "create"}
DETAIL: dict[str, Any] = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

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
    path("projects/", rest.DesignProjectViewSet.as_view(LIST), name="prototypes-project-list"),
    path("projects/<uuid:id>/", rest.DesignProjectViewSet.as_view(DETAIL), name="prototypes-project-detail"),
    path(
        "projects/<uuid:id>/prototypes/",
        rest.DesignProjectViewSet.as_view({"get": "prototypes"}),
        name="prototypes-project-prototypes",
    ),
    # groups
    path("groups/", rest.GroupViewSet.as_view(LIST), name="prototypes-group-list"),
    path(
        "groups/<uuid:id>/",
        rest.GroupViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="prototypes-group-detail",
    ),
    path(
        "groups/<uuid:id>/prototypes/",
        rest.GroupViewSet.as_view({"get": "prototypes"}),
        name="prototypes-group-prototypes",
    ),
    # prototypes
    path("prototypes/", rest.PrototypeViewSet.as_view({"get": "list"}), name="prototypes-prototype-list"),
    path(
        "prototypes/<uuid:id>/",
        rest.PrototypeViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="prototypes-prototype-detail",
    ),
    # variants
    path("variants/", rest.PrototypeVariantViewSet.as_view({"get": "list"}), name="prototypes-variant-list"),
    path(
        "variants/<uuid:id>/",
        rest.PrototypeVariantViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="prototypes-variant-detail",
    ),
    path(
        "variants/<uuid:id>/versions/",
        rest.PrototypeVariantViewSet.as_view({"get": "versions"}),
        name="prototypes-variant-versions",
    ),
    # versions
    path("versions/", rest.PrototypeVersionViewSet.as_view({"get": "list"}), name="prototypes-version-list"),
    path(
        "versions/<uuid:id>/",
        rest.PrototypeVersionViewSet.as_view({"get": "retrieve"}),
        name="prototypes-version-detail",
    ),
    path(
        "versions/<uuid:id>/revert/",
        rest.PrototypeVersionViewSet.as_view({"post": "revert"}),
        name="prototypes-version-revert",
    ),
    path(
        "versions/<uuid:id>/diff/",
        rest.PrototypeVersionViewSet.as_view({"get": "diff"}),
        name="prototypes-version-diff",
    ),
    path(
        "versions/<uuid:id>/preview-url/",
        rest.PrototypeVersionViewSet.as_view({"get": "preview_url"}),
        name="prototypes-version-preview-url",
    ),
    path(
        "versions/<uuid:id>/export/",
        rest.PrototypeVersionViewSet.as_view({"get": "export"}),
        name="prototypes-version-export",
    ),
]
