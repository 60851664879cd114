"""The stable error codes of the admin assistant (a public contract: never rename one)."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # API
    CHAT_NOT_FOUND = "chat_not_found"
    RESULT_NOT_FOUND = "result_not_found"
    NOT_STAFF = "not_staff"
    TOO_MANY_QUESTIONS = "too_many_questions"
    QUESTION_TOO_LONG = "question_too_long"
    NOT_A_TABLE = "not_a_table"
    # Answers (the `error.code` of a `result` event and of QueryLog.error_code)
    NOT_CONFIGURED = "not_configured"
    NO_CODE = "no_code"
    CODE_TOO_LONG = "code_too_long"
    REFUSED = "refused"
    READ_ONLY = "read_only_violation"
    PERMISSION = "database_permission_denied"
    TIMEOUT = "query_timeout"
    QUERY_FAILED = "query_failed"
    LLM_FAILED = "llm_failed"
    LLM_TIMEOUT = "llm_timeout"
