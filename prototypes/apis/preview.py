"""The sandboxed preview page of a version, mounted at the site root (`prototype-preview/<token>/`).

It needs no login: its signed, expiring token is the capability (`prototypes.services.preview`).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_exempt

from backend import errors
from backend.api.views import error_response
from prototypes import selectors
from prototypes.errors import ErrorCode
from prototypes.services import preview
from prototypes.services.documents import render_document


@xframe_options_exempt
def preview_page(request: HttpRequest, token: str) -> HttpResponseBase:
    """GET /prototype-preview/{token}/: the version's page, sandboxed, no network, frameable only by the app."""
    if request.method not in ("GET", "HEAD"):
        response = error_response(errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'))
        response["Allow"] = "GET, HEAD"
        return response
    try:
        if not preview.served_from_preview_host(host=request.get_host()):
            raise errors.NotFound("Previews are served from the preview host.", code=ErrorCode.PREVIEW_NOT_FOUND)
        version_id = preview.preview_version_id(token=token)
        html = selectors.preview_html(version_id=version_id)
    except errors.ApplicationError as error:
        response = error_response(error)
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex"
        return response
    page = HttpResponse(render_document(html), content_type="text/html; charset=utf-8")
    for name, value in preview.preview_headers().items():
        page[name] = value
    page["X-Robots-Tag"] = "noindex"
    return page
