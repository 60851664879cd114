"""The sandboxed preview page, mounted at the site root (served by the preview host in production)."""

from django.urls import path

from prototypes.apis import streaming

urlpatterns = [
    path("<str:token>/", streaming.preview_page, name="prototype-preview"),
]
