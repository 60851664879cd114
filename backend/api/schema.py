"""OpenAPI post-processing: the one error envelope as a schema component, on every error response.

Views document their error statuses with a description only; this hook gives each 4xx/5xx
response the `ErrorResponse` schema (`{"error": {"code", "message", "details"}}`), so code
generators type errors like any other body.
"""

from __future__ import annotations

from typing import Any

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


def error_envelope_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5"):
                    response["content"] = {"application/json": {"schema": reference}}
    return result
