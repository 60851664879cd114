"""OpenAPI post-processing for chat: the multipart form of sending a message lists its `files`."""

from __future__ import annotations

from typing import Any

MULTIPART_COMPONENT = "MessageCreateMultipartRequest"


def message_files_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    operation = result.get("paths", {}).get("/api/v1/chat/messages/", {}).get("post")
    if operation is None:
        return result
    content = operation.get("requestBody", {}).get("content", {})
    multipart = content.get("multipart/form-data")
    if multipart is None:
        return result
    result["components"]["schemas"][MULTIPART_COMPONENT] = {
        "allOf": [
            multipart["schema"],
            {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "Files to attach, uploaded with the message (same limits as "
                        "POST /api/v1/chat/attachments/).",
                    }
                },
            },
        ]
    }
    multipart["schema"] = {"$ref": f"#/components/schemas/{MULTIPART_COMPONENT}"}
    return result
