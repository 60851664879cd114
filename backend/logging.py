"""Structured logging: a request id on every line, JSON in production, no secrets.

The request id lives in a context variable set by `backend.middleware.RequestIdMiddleware`,
so it follows the request into async tasks it spawns (asyncio copies the context).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Values that must never reach a log line. Each pattern keeps its label and hides the value.
# Replacements are functions, not templates: a template is parsed on first use, which can import
# at interpreter exit (when a late `__del__` logs) and fail there.
_KEEP_LABEL = 1


def _hide_after_label(match: re.Match[str]) -> str:
    return f"{match.group(_KEEP_LABEL)}[REDACTED]"


def _hide_after_word(match: re.Match[str]) -> str:
    return f"{match.group(_KEEP_LABEL)} [REDACTED]"


def _hide(label: str) -> Callable[[re.Match[str]], str]:
    return lambda match: label


_SECRET_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    # Authorization headers and tokens: "Token abc", "Bearer abc".
    (re.compile(r"(?i)\b(token|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), _hide_after_word),
    # key=value / "key": "value" for sensitive keys (query strings of signed URLs included).
    (
        re.compile(
            r"(?i)([\"']?(?:password|passwd|secret|api[_-]?key|access[_-]?key|secret[_-]?key|"
            r"session[_-]?token|authorization|id_token|refresh_token|access_token|token|"
            r"x-amz-signature|x-amz-credential|signature)[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
        ),
        _hide_after_label,
    ),
    # Signed prototype-preview URLs: the path segment is a bearer credential.
    (re.compile(r"(/prototype-preview/)[^/\s?#\"']+"), _hide_after_label),
    # Knox tokens on their own (prefix, underscore, 64 hex characters).
    (re.compile(r"\b[a-z]{1,10}_[0-9a-f]{64}\b"), _hide("[REDACTED-TOKEN]")),
    # AWS access key ids.
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), _hide("[REDACTED-AWS-KEY]")),
]


def redact(text: str) -> str:
    """Return `text` with every known secret shape replaced."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Formats the message once, redacts it, and freezes it (args cleared)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields are included (redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value if isinstance(value, (int, float, bool)) or value is None else redact(str(value))
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
