"""Stable error codes of the tools app."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    TOOL_CALL_NOT_PENDING = "tool_call_not_pending"
    TOOL_CALL_ALREADY_DECIDED = "tool_call_already_decided"
