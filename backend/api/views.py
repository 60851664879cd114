"""Django's error views (handler400/403/404/500), rendering the API's error shape on API paths.

Non-API paths (the admin) keep Django's HTML pages.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from backend import errors
from backend.api.exception_handler import database_unavailable, error_payload

logger = logging.getLogger(__name__)

API_PATH_PREFIXES = ("/api/", "/healthz", "/readyz")


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def error_response(error: errors.ApplicationError) -> JsonResponse:
    response = JsonResponse(error_payload(error), status=error.status_code)
    for name, value in error.headers().items():
        response[name] = value
    return response


def bad_request(request: HttpRequest, exception: Exception, *args: Any, **kwargs: Any) -> HttpResponse:
    if not is_api_path(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return error_response(errors.PayloadTooLarge())
    return error_response(errors.MalformedRequest("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Exception, *args: Any, **kwargs: Any) -> HttpResponse:
    if not is_api_path(request):
        return defaults.permission_denied(request, exception)
    return error_response(errors.PermissionDenied())


def page_not_found(request: HttpRequest, exception: Exception, *args: Any, **kwargs: Any) -> HttpResponse:
    if not is_api_path(request):
        return defaults.page_not_found(request, exception)
    return error_response(errors.NotFound("No such resource."))


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any unknown path under /api/, mounted last: the error shape with DEBUG on too.

    (With DEBUG on, Django answers an unresolved URL with its HTML debug page, never handler404.)
    A path that exists with a trailing slash is named in the message rather than redirected to:
    a redirect would turn a POST into a GET and lose its body.
    """
    message = "No such resource."
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            message = f"No such resource. API paths end with a slash: {request.path_info}/"
    return error_response(errors.NotFound(message))


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    # Django has already logged the traceback (django.request) with the request id. The handler
    # runs inside Django's `except` block, so the exception is still the current one.
    if database_unavailable(sys.exc_info()[1]):
        return error_response(errors.DatabaseUnavailable())
    if not is_api_path(request):
        return defaults.server_error(request)
    return error_response(errors.InternalError())


def require_get(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like Django's require_GET (HEAD allowed), but a refusal is a 405 in the API's error shape."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = error_response(errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'))
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper
