"""Answering a question on the streaming engine (`backend.streaming`): the assistant's adapter.

One answer streams as:

- `message_start` {chat_id, user_message_id, assistant_message_id, model};
- `delta` {text}: the model's explanation only (its code block is not streamed);
- `result` {kind, columns, rows, row_count, total, truncated, chart?, code, error}: once, after
  the code ran in the guarded read-only transaction (`adminassistant.executor`);
- `message_stop` — also when the answer is a friendly error (no key, the model timed out,
  invalid code): its `result` has kind `error` and the message is stored `error`.

When the code is refused or the database rejects it, the error goes back to the model once
for a corrected snippet (its explanation streams after a blank line). Every question writes
one QueryLog row in the answer's terminal transaction, after the query's own rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from adminassistant.errors import ErrorCode
from adminassistant.executor.runner import Execution, execute
from adminassistant.models import Chat, Message
from adminassistant.services import chats, prompts
from backend.llm import service as llm
from backend.llm.errors import FailureKind, LLMError
from backend.llm.types import LLMRequest, StreamStart, StreamStop, TextDelta
from backend.llm.usage import CallReport
from backend.streaming.engine import Engine, Failure, Outcome, Run

Status = Message.Status
logger = logging.getLogger(__name__)

FRIENDLY = {
    ErrorCode.NOT_CONFIGURED: "The assistant is not set up yet: {detail}. A superuser can fix this in the AI settings.",
    ErrorCode.LLM_TIMEOUT: "The AI model took too long to answer. Try again in a moment.",
    ErrorCode.LLM_FAILED: "The AI model could not answer right now. Try again in a moment.",
    ErrorCode.NO_CODE: "The answer held no query to run. Try rephrasing the question.",
    ErrorCode.REFUSED: "The generated query was refused by the safety check ({detail}). Try rephrasing the question.",
    ErrorCode.CODE_TOO_LONG: "The generated query was too long. Try a narrower question.",
    ErrorCode.READ_ONLY: "The query tried to change data and was blocked: {detail}",
    ErrorCode.PERMISSION: "The query touched data the assistant may not read.",
    ErrorCode.TIMEOUT: "The query took too long and was cancelled. Try a narrower question.",
    ErrorCode.QUERY_FAILED: "The query failed: {detail}",
}
_MISSING = {"model": "no valid model is chosen", "api_key": "the API key is missing"}


def friendly(code: str, detail: str = "") -> str:
    return FRIENDLY.get(ErrorCode(code), "The question could not be answered.").format(detail=detail).strip()


@dataclass
class AnswerState:
    question: chats.Question
    log: chats.LogEntry = field(init=False)

    def __post_init__(self) -> None:
        self.log = chats.LogEntry(question=self.question.question)

    @property
    def start_fields(self) -> dict[str, Any]:
        return self.question.start_fields

    @property
    def user_id(self) -> Any:
        return self.question.user_id


def error_result(code: str, message: str, program: str = "") -> dict[str, Any]:
    return {
        "kind": "error",
        "columns": [],
        "rows": [],
        "row_count": 0,
        "total": 0,
        "truncated": False,
        "code": program,
        "error": {"code": code, "message": message},
    }


class AnswerAdapter:
    scope = "adminassistant"
    record_model = Message
    text_field = "content"

    def __init__(self) -> None:
        self._logs: dict[UUID, tuple[Any, chats.LogEntry]] = {}

    def max_concurrent(self) -> int:
        return int(settings.ADMIN_ASSISTANT_MAX_CONCURRENT)

    def running(self, *, user: Any) -> QuerySet[Message]:
        return Message.objects.filter(chat__user=user, role=Message.Role.ASSISTANT, status=Status.STREAMING)

    def prepare(self, admission: Any) -> None:
        return None

    def start_data(self, record: Message) -> dict[str, Any]:
        return {
            "chat_id": str(record.chat_id),
            "user_message_id": str(
                record.chat.messages.filter(role=Message.Role.USER, created_at__lte=record.created_at)
                .order_by("-created_at")
                .values_list("id", flat=True)
                .first()
            ),
            "assistant_message_id": str(record.id),
        }

    def terminal_data(self, record: Message) -> dict[str, Any]:
        return {}

    # --- The run --------------------------------------------------------------------------------

    async def run(self, run: Run) -> Outcome:
        state: AnswerState = run.payload
        question = state.question
        self._logs[run.record_id] = (question.user_id, state.log)
        config = question.config
        if not config.ready:
            detail = " and ".join(_MISSING.get(item, item) for item in config.missing)
            return self._failed(run, state, ErrorCode.NOT_CONFIGURED, friendly(ErrorCode.NOT_CONFIGURED, detail))
        request = prompts.request_build(
            manifest=question.manifest,
            history=question.history,
            question=question.question,
            alias=config.alias,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            user_id=question.user_id,
            message_id=question.answer.id,
        )
        try:
            reply = await self._call(run, request, timeout=config.timeout_seconds)
            execution, code = await self._execute(run, state, reply)
            if not execution.ok and execution.correctable:
                run.append_text("\n\n")
                retry = prompts.correction_build(request, reply=reply, error=execution.error_message)
                reply = await self._call(run, retry, timeout=config.timeout_seconds)
                execution, code = await self._execute(run, state, reply)
        except TimeoutError:
            return self._failed(run, state, ErrorCode.LLM_TIMEOUT, friendly(ErrorCode.LLM_TIMEOUT))
        except LLMError as error:
            code_ = ErrorCode.LLM_TIMEOUT if error.kind is FailureKind.TIMEOUT else ErrorCode.LLM_FAILED
            return self._failed(run, state, code_, friendly(code_))
        if not execution.ok:
            detail = execution.refusal_rule or execution.error_message
            message = friendly(execution.error_code, detail)
            return self._failed(run, state, execution.error_code, message, program=code)
        assert execution.result is not None
        result = {**execution.result, "code": code, "error": None}
        state.log.row_count = int(result["row_count"])
        state.log.truncated = bool(result["truncated"])
        state.log.result_kind = str(result["kind"])
        figures = prompts.aggregate_figures(result)
        if config.send_aggregates and figures:
            await self._summarise(run, state, figures)
        run.emit("result", result)
        return Outcome(status=Status.COMPLETE, stop_reason="end_turn", fields={"code": code, "result": result})

    async def _summarise(self, run: Run, state: AnswerState, figures: str) -> None:
        """With `send_aggregates`: one sentence from the aggregate figures (never rows); skipped on failure."""
        question = state.question
        request = prompts.summary_build(
            question=question.question,
            figures=figures,
            alias=question.config.alias,
            user_id=question.user_id,
            message_id=question.answer.id,
        )
        run.append_text("\n\n")
        try:
            await self._call(run, request, timeout=question.config.timeout_seconds)
        except (TimeoutError, LLMError):
            logger.warning("adminassistant: the summary of %s failed", question.answer.id, exc_info=True)

    async def _call(self, run: Run, request: LLMRequest, *, timeout: float) -> str:
        """One model call: deltas of its explanation go to the stream; returns the whole reply."""
        report = CallReport()
        run.reports.append(report)
        explanation = prompts.ExplanationStream()
        parts: list[str] = []
        sent: list[str] = []
        stop: StreamStop | None = None
        async with asyncio.timeout(timeout):
            # The operator's key from the AI settings, for this question's calls only.
            # Closed here however the loop ends, as `Run.stream` closes its call: should the loop
            # ever wait between events, a cancellation there still records what the call billed.
            with llm.use_api_keys(run.payload.question.config.api_keys):
                async with contextlib.aclosing(llm.astream(request, report=report)) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            parts.append(event.text)
                            text = explanation.feed(event.text)
                            if text:
                                sent.append(text)
                                run.append_text(text)
                        elif isinstance(event, StreamStart):
                            run.started(event.model_id)
                        elif isinstance(event, StreamStop):
                            stop = event
        assert stop is not None, "the LLM layer ends every stream with a stop event or an error"
        reply = "".join(parts)
        # Text after the code block (rare) is explanation too: added once the reply is whole.
        streamed = "".join(sent).strip()
        whole = prompts.explanation_of(reply)
        if whole.startswith(streamed) and whole[len(streamed) :].strip():
            run.append_text(("\n\n" if streamed else "") + whole[len(streamed) :].strip())
        return reply

    async def _execute(self, run: Run, state: AnswerState, reply: str) -> tuple[Execution, str]:
        blocks = prompts.code_blocks(reply)
        state.log.attempts += 1
        if len(blocks) != 1:
            error = "Reply with exactly one ```python block." if blocks else "The reply held no ```python block."
            execution = Execution(error_code=ErrorCode.NO_CODE, error_message=error, refusal_rule="one_code_block")
            self._note(state, execution, "\n\n".join(blocks))
            return execution, "\n\n".join(blocks)
        code = blocks[0]
        # The question's own model calls are in the ledger when its query reads it.
        execution = await run.in_database(execute, code, manifest=state.question.manifest)
        self._note(state, execution, code)
        return execution, code

    @staticmethod
    def _note(state: AnswerState, execution: Execution, code: str) -> None:
        log = state.log
        log.code = code
        log.duration_ms += execution.duration_ms
        log.error_code = execution.error_code
        log.error_message = execution.error_message
        log.refusal_rule = execution.refusal_rule

    def _failed(self, run: Run, state: AnswerState, code: str, message: str, program: str = "") -> Outcome:
        state.log.error_code = code
        if not state.log.error_message:
            state.log.error_message = message
        run.started(run.model_id)  # message_start first, also when no model was called
        if not run.text:
            run.append_text(message)
        result = error_result(code, message, program)
        run.emit("result", result)
        return Outcome(
            status=Status.ERROR,
            stop_reason="end_turn",
            note=Failure(code, message, retryable=False),
            fields={"code": program, "result": result},
        )

    def failed(self, run: Run, error: LLMError) -> Outcome:
        state: AnswerState = run.payload
        code = ErrorCode.LLM_TIMEOUT if error.kind is FailureKind.TIMEOUT else ErrorCode.LLM_FAILED
        return self._failed(run, state, code, friendly(code))

    def finished(self, *, record: Message, outcome: Outcome) -> None:
        user_id, entry = self._logs.pop(record.id, (None, None))
        if user_id is None:
            user_id = Chat.objects.filter(id=record.chat_id).values_list("user_id", flat=True).first()
        if entry is not None and outcome.status in (Status.CANCELLED, Status.INTERRUPTED):
            entry.error_code = outcome.status
        chats.query_log_write(answer=record, user_id=user_id, entry=entry)
        if outcome.status == Status.COMPLETE and not Chat.objects.filter(id=record.chat_id, titled=True).exists():
            chats.title_schedule(chat_id=record.chat_id)


engine = Engine(AnswerAdapter())
