"""Help answers on the streaming engine (`backend.streaming`): the widget's and the ask page's adapter.

Owners are anonymous, so the engine is admitted with `user=None` and no Idempotency-Key: its
per-user concurrency slot does not apply (`running` is empty). Instead, accepting a widget
turn locks the session's row and refuses a second turn while one streams (409
`turn_in_progress`); rate limits, the session's token budget and the daily cost cap are
checked in the same step. An answer taking longer than HELP_TIMEOUT_SECONDS ends `timeout`.
Model failures end with the help error codes (`no_provider`, `auth_failed`, `throttled`,
`timeout`, `error`) that both clients translate.

Ask-page turns (channel `page`) store no question, and their answer is blanked when it ends:
the visitor reads it from the stream; what it cost stays on the record and in the ledger.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from backend import errors
from backend.llm.errors import FailureKind, LLMError
from backend.llm.types import LLMRequest
from backend.streaming.engine import Admission, Engine, Failure, Outcome, Run
from sitehelp import selectors
from sitehelp.errors import ErrorCode
from sitehelp.models import HelpMessage, HelpSession
from sitehelp.services import limits, prompts

Status = HelpMessage.Status

# Provider codes that mean the credentials were refused (Bedrock's names).
AUTH_PROVIDER_CODES = frozenset(
    {"UnrecognizedClientException", "AccessDeniedException", "ExpiredTokenException", "InvalidSignatureException"}
)
FAILURE_MESSAGES = {
    ErrorCode.NO_PROVIDER: "No AI provider is configured.",
    ErrorCode.AUTH_FAILED: "The AI provider refused our credentials.",
    ErrorCode.THROTTLED: "The AI service is busy. Please try again in a moment.",
    ErrorCode.TIMEOUT: "The answer took too long.",
    ErrorCode.ERROR: "The answer could not be generated.",
}


@dataclass
class Turn:
    """What a help answer's run needs."""

    record: HelpMessage
    request: LLMRequest
    start_fields: dict[str, Any] = field(default_factory=dict)
    user_id: Any = None  # anonymous (the engine's log line reads it)


def start_fields(record: HelpMessage) -> dict[str, Any]:
    return {"session_id": str(record.session_id) if record.session_id else None, "message_id": str(record.id)}


def failure_code(error: LLMError) -> ErrorCode:
    """The help error code of a model failure."""
    if error.provider_code == "no_credentials":
        return ErrorCode.NO_PROVIDER
    if error.provider_code in AUTH_PROVIDER_CODES:
        return ErrorCode.AUTH_FAILED
    if error.kind is FailureKind.THROTTLED:
        return ErrorCode.THROTTLED
    if error.kind is FailureKind.TIMEOUT:
        return ErrorCode.TIMEOUT
    return ErrorCode.ERROR


def _failure(code: ErrorCode, *, retryable: bool = True) -> Outcome:
    return Outcome(status=Status.ERROR, failure=Failure(code, FAILURE_MESSAGES[code], retryable))


class HelpAdapter:
    scope = "sitehelp"
    record_model = HelpMessage
    text_field = "answer"

    def max_concurrent(self) -> int:
        return 1

    def running(self, *, user: Any) -> QuerySet[HelpMessage]:
        # Anonymous owners hold no per-user slot: one turn per session is enforced when accepting.
        return HelpMessage.objects.none()

    def prepare(self, admission: Admission) -> None:
        return None

    def start_data(self, record: HelpMessage) -> dict[str, Any]:
        return start_fields(record)

    def terminal_data(self, record: HelpMessage) -> dict[str, Any]:
        return {"message_id": str(record.id)}

    async def run(self, run: Run) -> Outcome:
        turn: Turn = run.payload
        try:
            async with asyncio.timeout(settings.HELP_TIMEOUT_SECONDS):
                stop = await run.stream(turn.request)
        except TimeoutError:
            return _failure(ErrorCode.TIMEOUT)
        return Outcome(status=Status.COMPLETE, stop_reason=stop.stop_reason.value)

    def failed(self, run: Run, error: LLMError) -> Outcome:
        code = failure_code(error)
        return _failure(code, retryable=code not in (ErrorCode.NO_PROVIDER, ErrorCode.AUTH_FAILED))

    def finished(self, *, record: HelpMessage, outcome: Outcome) -> None:
        if record.session_id:
            HelpSession.objects.filter(id=record.session_id).update(last_activity_at=timezone.now())
        if record.channel == HelpMessage.Channel.PAGE:
            HelpMessage.objects.filter(id=record.id).update(answer="")


engine = Engine(HelpAdapter())


def _admission(record: HelpMessage, request: LLMRequest) -> Admission:
    return Admission(
        record_id=record.id, payload=Turn(record=record, request=request, start_fields=start_fields(record))
    )


def message_accept(*, session_id: Any, question: str, ip: str) -> Admission:
    """Accept a widget turn (call inside the engine's admission transaction).

    Raises 409 `turn_in_progress` while the session's previous answer streams, 429 over the
    session's or the IP's rate, 503 when no provider is configured, the session's token budget
    is spent or the daily cost cap is reached.
    """
    limits.provider_check()
    session = HelpSession.objects.select_for_update().get(id=session_id)
    if HelpMessage.objects.filter(session=session, status=Status.STREAMING).exists():
        raise errors.Conflict(
            "Wait for the current answer to finish.", code=ErrorCode.TURN_IN_PROGRESS, details={"retry_after": 2}
        )
    limits.session_budget_check(tokens_used=selectors.session_tokens_used(session=session))
    limits.daily_cap_check()
    limits.rate_check("message_session", str(session.id), settings.HELP_RATE_MESSAGE_SESSION)
    limits.rate_check("message_ip", ip, settings.HELP_RATE_MESSAGE_IP)
    earlier = list(
        HelpMessage.objects.filter(session=session, status=Status.COMPLETE)
        .order_by("-created_at")
        .values_list("question", "answer")[: settings.HELP_HISTORY_TURNS]
    )
    session.last_activity_at = timezone.now()
    session.save(update_fields=["last_activity_at"])
    record = HelpMessage.objects.create(
        session=session,
        channel=HelpMessage.Channel.WIDGET,
        language=session.language,
        question=question,
        **engine.new_record_fields(),
    )
    request = prompts.help_request(
        question=question,
        language=session.language,
        history=reversed(earlier),
        reference=f"sitehelp.helpmessage:{record.id}",
    )
    return _admission(record, request)


def ask_accept(*, question: str, language: str, ip: str, visitor: str) -> Admission:
    """Accept an ask-page question: rate-limited per IP and per browser session; nothing of it is stored."""
    limits.provider_check()
    limits.daily_cap_check()
    limits.rate_check("ask_ip", ip, settings.HELP_RATE_ASK_IP)
    if visitor:
        limits.rate_check("ask_session", visitor, settings.HELP_RATE_ASK_SESSION)
    record = HelpMessage.objects.create(
        channel=HelpMessage.Channel.PAGE, language=language, **engine.new_record_fields()
    )
    request = prompts.help_request(
        question=question, language=language, history=(), reference=f"sitehelp.helpmessage:{record.id}"
    )
    return _admission(record, request)
