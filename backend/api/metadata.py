"""The answer to OPTIONS: what the route renders and parses, without introspecting serializers.

DRF's `SimpleMetadata` builds a form description by instantiating the view's serializer,
which fails (a 500) on viewset routes that have no `queryset`/`serializer_class` of their
own, and describes fields the OpenAPI schema at /api/schema/ already documents. CORS
preflights never reach a view (the CORS middleware answers them).
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request


class RouteMetadata(BaseMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
