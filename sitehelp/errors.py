"""The stable error codes of the help page and the widget (one table for both clients).

Clients branch on these codes and show their own translated message for each (the widget's
catalogue, `GET /api/v1/help/i18n/{lang}/`, and the ask page's error area).
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Admission
    INVALID_SESSION_TOKEN = "invalid_session_token"  # noqa: S105 - error codes
    SESSION_TOKEN_MISSING = "session_token_missing"  # noqa: S105
    SESSION_EXPIRED = "session_expired"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    CSRF_FAILED = "csrf_failed"  # the ask page's form, sent from another site
    TURN_IN_PROGRESS = "turn_in_progress"
    RATE_LIMITED = "rate_limited"
    SESSION_BUDGET_EXHAUSTED = "session_budget_exhausted"
    DAILY_CAP_REACHED = "daily_cap_reached"
    FEEDBACK_DISABLED = "feedback_disabled"
    QUESTION_EMPTY = "question_empty"
    QUESTION_TOO_LONG = "question_too_long"
    ANSWER_NOT_FINISHED = "answer_not_finished"
    # The model call (also the `code` of a stream's `error` event)
    NO_PROVIDER = "no_provider"
    AUTH_FAILED = "auth_failed"
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    ERROR = "error"
