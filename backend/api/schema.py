"""OpenAPI postprocessing: the error responses every operation can give, documented once.

Views document their own success responses and the errors particular to them. The errors
that follow from the request's shape are added here to every operation that can give them,
so that the schema at /api/schema/ is true (the fuzz run in CI holds it to that):

- 400 `invalid`/`malformed_request`, 413 `payload_too_large` and 415 `unsupported_media_type`
  for every operation with a request body (the body limits of `backend.asgi_limits` and the
  parsers apply to all of them);
- 401 `not_authenticated` for every operation that requires authentication;
- 404 `not_found` for every operation with a path parameter;
- 431 `headers_too_large` and 503 `service_unavailable` (database outage) for every operation.

Every 4xx/5xx response without a body schema gets the one error shape, component
`ErrorResponse` (`{"error": {"code", "message", "details"}}`), so code generators type errors
like any other body. Its `code` field lists every published code, by registry
(`backend.errors.published_error_codes()`); it stays a plain string, not an enum, so that a
client generated today still reads a code added tomorrow.
"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.utils import OpenApiResponse

from backend.errors import published_error_codes

# What the error statuses mean, for `extend_schema(responses=...)`: `error_responses(400, 404)`.
# A view adds its own `OpenApiResponse` for an error particular to it (`409: "generation_in_progress"`).
_ERROR_DESCRIPTIONS = {
    400: "Invalid input: `{error: {code, message, details}}`.",
    401: "Not authenticated.",
    403: "Not allowed.",
    404: "Not found (or another user's).",
    409: "Conflicts with the current state.",
    413: "Request body too large.",
    429: "Rate limited (`Retry-After` header).",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses for `statuses` (each in the one error shape)."""
    return {status: OpenApiResponse(description=_ERROR_DESCRIPTIONS[status]) for status in statuses}


# An authenticated operation on the user's own rows: bad input, no session, another user's id.
ERRORS = error_responses(400, 401, 404)

ERROR_COMPONENT = "ErrorResponse"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error response has this shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable identifier to branch on, e.g. `not_found`, `validation_failed`.",
                },
                "message": {"type": "string", "description": "A human-readable sentence."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Per-field messages for validation errors; otherwise extra context or `{}`.",
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
_BODY_ERRORS = {
    "400": "Invalid input, or a body that could not be parsed (`invalid`, `malformed_request`).",
    "413": "Request body over the endpoint's limit (`payload_too_large`).",
    "415": "Unsupported `Content-Type` (`unsupported_media_type`).",
}
_AUTH_ERROR = {"401": "Not authenticated (`not_authenticated`)."}
_PATH_ERROR = {"404": "Not found, or another user's (`not_found`)."}
_ALWAYS = {
    "431": "Request headers too large (`headers_too_large`).",
    "503": "Database unavailable (`service_unavailable`, `Retry-After`).",
}
_METHODS = ("get", "put", "patch", "post", "delete", "head", "options", "trace")


def _requires_authentication(operation: dict[str, Any]) -> bool:
    security = operation.get("security") or []
    return bool(security) and {} not in security


def error_schema() -> dict[str, Any]:
    """`ERROR_SCHEMA` with the published codes listed in the description of its `code` field."""
    schema = copy.deepcopy(ERROR_SCHEMA)
    code = schema["properties"]["error"]["properties"]["code"]
    registries = "; ".join(
        f"{owner}: " + ", ".join(f"`{value}`" for value in codes) for owner, codes in published_error_codes().items()
    )
    code["description"] += f" The codes, by registry (docs/error-codes.md): {registries}."
    return schema


def document_common_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry (see the module docstring)."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = error_schema()
    reference = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path, item in result.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            extra = dict(_ALWAYS)
            if "requestBody" in operation:
                extra |= _BODY_ERRORS
            if _requires_authentication(operation):
                extra |= _AUTH_ERROR
            if "{" in path:
                extra |= _PATH_ERROR
            for status, description in extra.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[:1] in ("4", "5") and not response.get("content"):
                    response["content"] = reference
    return result
