"""Stable error codes of the retrieval app."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    UNSUPPORTED_FORMAT = "unsupported_document_format"
    UNREADABLE_DOCUMENT = "unreadable_document"
    EMPTY_QUERY = "empty_query"
