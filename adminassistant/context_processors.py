"""The drawer's user-facing strings, translated, for the admin base template (as JSON)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext


def _strings() -> dict[str, str]:
    return {
        "title": gettext("AI assistant"),
        "new_chat": gettext("New chat"),
        "close": gettext("Close"),
        "chats": gettext("Chats"),
        "untitled": gettext("New chat"),
        "placeholder": gettext("Ask a question about your data…"),
        "send": gettext("Ask"),
        "thinking": gettext("Thinking…"),
        "show_more": gettext("Show more"),
        "showing": gettext("Showing {shown} of {total} rows"),
        "capped": gettext("The result was cut to the first {rows} rows."),
        "csv": gettext("Download CSV"),
        "code": gettext("Generated code"),
        "table": gettext("Table"),
        "chart": gettext("Chart"),
        "failed": gettext("The question could not be answered."),
        "not_ready": gettext("The assistant is not set up yet."),
        "empty": gettext("Ask a question, e.g. “How many users registered today?”"),
    }


def strings(request: HttpRequest) -> dict[str, Any]:
    if not request.path.startswith("/admin"):
        return {}
    return {"adminassistant_strings": _strings()}
