"""The user-facing strings of the widget and the ask page's error table, in the gettext catalogues.

The widget receives them translated from `GET /api/v1/help/i18n/{lang}/`, so one set of `.po`
files (editable in Rosetta) serves the page and the widget.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from sitehelp.errors import ErrorCode

WIDGET_STRINGS = {
    "title": _("Help"),
    "ai_notice": _("AI assistant: answers may be wrong."),
    "privacy": _("Privacy notice"),
    "open": _("Open help"),
    "close": _("Close help"),
    "input_label": _("Your question"),
    "placeholder": _("Ask a question…"),
    "send": _("Send"),
    "sending": _("Answering…"),
    "you": _("You"),
    "assistant": _("Assistant"),
    "answer_ready": _("The answer is ready."),
    "consent_text": _(
        "To answer, we store this conversation for %(days)s days. It is not linked to you. "
        "You can download or delete it at any time."
    ),
    "consent_accept": _("I agree"),
    "consent_decline": _("No thanks"),
    "consent_waiting": _("Help starts once you accept the site's privacy settings."),
    "session_renewed": _("Your previous conversation expired. A new one was started."),
    "helpful": _("Helpful"),
    "not_helpful": _("Not helpful"),
    "comment_label": _("Comment (optional)"),
    "comment_send": _("Send comment"),
    "feedback_thanks": _("Thank you for your feedback."),
    "export": _("Download my conversation"),
    "delete": _("Delete my conversation"),
    "deleted": _("Your conversation was deleted."),
    "conversation": _("Conversation"),
    "history": _("Messages"),
}

ERROR_MESSAGES = {
    ErrorCode.NO_PROVIDER: _("Help is not set up yet. Please try again later."),
    ErrorCode.AUTH_FAILED: _("Help cannot reach the AI service right now. Please try again later."),
    ErrorCode.THROTTLED: _("The AI service is busy. Please try again in a moment."),
    ErrorCode.TIMEOUT: _("The answer took too long. Please try again."),
    ErrorCode.ERROR: _("Something went wrong. Please try again."),
    ErrorCode.RATE_LIMITED: _("Too many questions. Please wait %(seconds)s seconds."),
    ErrorCode.SESSION_EXPIRED: _("Your conversation expired."),
    ErrorCode.TURN_IN_PROGRESS: _("Please wait for the current answer to finish."),
    ErrorCode.SESSION_BUDGET_EXHAUSTED: _("Help is unavailable right now. Please try again later."),
    ErrorCode.DAILY_CAP_REACHED: _("Help is unavailable right now. Please try again later."),
    ErrorCode.QUESTION_EMPTY: _("Please type a question."),
    ErrorCode.QUESTION_TOO_LONG: _("Please keep your question under %(max_chars)s characters."),
    ErrorCode.ORIGIN_NOT_ALLOWED: _("Help is not available on this site."),
    ErrorCode.INVALID_SESSION_TOKEN: _("Your conversation expired."),
    ErrorCode.SESSION_TOKEN_MISSING: _("Your conversation expired."),
    ErrorCode.FEEDBACK_DISABLED: _("Feedback is not collected."),
    ErrorCode.ANSWER_NOT_FINISHED: _("Please wait for the answer to finish."),
}


def error_message(code: str, **values: object) -> str:
    """The translated message of an error code (in the active language), its placeholders filled."""
    message = str(ERROR_MESSAGES.get(code, ERROR_MESSAGES[ErrorCode.ERROR]))  # type: ignore[call-overload]
    try:
        return message % values if values else message
    except (KeyError, TypeError, ValueError):
        return message


def catalogue() -> dict[str, dict[str, str]]:
    """Every widget string and error message, in the active language."""
    return {
        "strings": {key: str(value) for key, value in WIDGET_STRINGS.items()},
        "error_texts": {str(code): str(message) for code, message in ERROR_MESSAGES.items()},
    }
