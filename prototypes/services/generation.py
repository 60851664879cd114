"""Generating a version: the same machinery as chat answers (`chat.services.generation`).

An asyncio task per generation, independent of the HTTP connection; numbered events in the
version's log (`backend.streams`, key `prototype-version:<id>`) with chat's event contract;
the final write shielded from cancellation; a per-process loop that heart-beats running
versions, checkpoints their raw answer and applies stops requested from other processes.

Every version ends in exactly one terminal state:

- `complete`: the answer held a whole page (or edits that applied) — sanitised and saved;
- `incomplete`: the answer was cut off (max tokens, or the stream failed after content):
  the partial page is kept for inspection but never used as the base of an edit;
- `error`: the model failed before answering, or the answer held no page;
- `cancelled`: the user pressed stop; `interrupted`: the process stopped.

An edit whose find-and-replace blocks do not apply falls back to a second call asking for
the whole page (its deltas carry `"phase": "rewrite"`); usage of both calls is summed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from backend import generations, streams
from backend.db import db_sync_to_async
from backend.llm import service as llm
from backend.llm.errors import FailureKind, LLMError
from backend.llm.types import LLMRequest, StreamStart, StreamStop, TextDelta, Usage
from prototypes.models import PrototypeVersion
from prototypes.services import prompts
from prototypes.services.outcome import Outcome, outcome_of
from prototypes.services.parsing import AnswerParser
from prototypes.services.sanitize import sanitize_html
from prototypes.services.versions import Accepted, version_finish

logger = logging.getLogger(__name__)

Status = PrototypeVersion.Status


def log_key(version_id: UUID | str) -> str:
    return f"prototype-version:{version_id}"


@dataclass
class Generation:
    version_id: UUID
    accepted: Accepted
    log: streams.LocalLog
    parser: AnswerParser = field(default_factory=AnswerParser)
    text_parts: list[str] = field(default_factory=list)
    checkpointed_chars: int = 0
    stop_requested: bool = False
    started: bool = False
    model_id: str = ""
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    task: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def add_usage(self, stop: StreamStop) -> None:
        self.model_id = stop.model_id
        self.cost += stop.cost
        self.usage = Usage(
            input_tokens=self.usage.input_tokens + stop.usage.input_tokens,
            output_tokens=self.usage.output_tokens + stop.usage.output_tokens,
            cache_read_tokens=self.usage.cache_read_tokens + stop.usage.cache_read_tokens,
            cache_write_tokens=self.usage.cache_write_tokens + stop.usage.cache_write_tokens,
        )


_afinish = db_sync_to_async(version_finish)


# --- Database writes off the event loop -------------------------------------------------------------


def versions_checkpoint(*, texts: dict[UUID, str], alive: list[UUID]) -> None:
    """One UPDATE for every running generation: heartbeat, plus raw output where it grew."""
    now = timezone.now()
    if texts:
        PrototypeVersion.objects.filter(id__in=list(texts), status=Status.STREAMING).update(
            raw_output=Case(*(When(id=vid, then=Value(text)) for vid, text in texts.items()), output_field=TextField()),
            heartbeat_at=now,
        )
    rest = [vid for vid in alive if vid not in texts]
    if rest:
        PrototypeVersion.objects.filter(id__in=rest, status=Status.STREAMING).update(heartbeat_at=now)


def versions_sweep() -> int:
    """Turn streaming versions whose generation stopped heart-beating into `interrupted`."""
    horizon = timezone.now() - timedelta(seconds=settings.CHAT_STALE_GENERATION_SECONDS)
    stale = list(
        PrototypeVersion.objects.filter(status=Status.STREAMING, heartbeat_at__lt=horizon).values_list(
            "id", "raw_output"
        )
    )
    swept = 0
    for version_id, raw_output in stale:
        if version_finish(
            version_id=version_id,
            status=Status.INTERRUPTED,
            raw_output=raw_output,
            error_code="interrupted",
            error_message="The generation was interrupted by a server restart.",
        ):
            swept += 1
            streams.append_terminal_sync(
                log_key(version_id),
                "error",
                {"code": "interrupted", "message": "The generation was interrupted.", "retryable": True},
            )
    return swept


_acheckpoint = db_sync_to_async(versions_checkpoint)

registry: generations.Registry[Generation] = generations.Registry("prototypes", checkpoint=_acheckpoint)


# --- The task --------------------------------------------------------------------------------------------


def generation_launch(*, accepted: Accepted) -> Generation:
    """Start generating `accepted.version` in this process; returns once its log exists."""
    version_id = accepted.version.id
    log = streams.registry.open(log_key(version_id))
    generation = Generation(version_id=version_id, accepted=accepted, log=log)
    registry.start(version_id, generation, _run(generation))
    return generation


def _start(generation: Generation, model_id: str) -> None:
    if not generation.started:
        generation.started = True
        generation.log.append("message_start", {**generation.accepted.ids, "model": model_id})


async def _stream(generation: Generation, request: LLMRequest, phase: str = "") -> StreamStop:
    stop: StreamStop | None = None
    async for event in llm.astream(request):
        if isinstance(event, TextDelta):
            generation.text_parts.append(event.text)
            generation.parser.feed(event.text)
            generation.log.append("delta", {"text": event.text, "phase": phase} if phase else {"text": event.text})
        elif isinstance(event, StreamStart):
            _start(generation, event.model_id)
        elif isinstance(event, StreamStop):
            stop = event
            generation.add_usage(event)
    assert stop is not None
    return stop


def _stop_data(generation: Generation, stop_reason: str, status: str) -> dict[str, Any]:
    return {
        "stop_reason": stop_reason,
        "model": generation.model_id,
        "usage": generation.usage.as_dict(),
        "version_id": str(generation.version_id),
        "status": status,
    }


async def _finish(generation: Generation, outcome: Outcome, stop_reason: str) -> None:
    await _afinish(
        version_id=generation.version_id,
        status=outcome.status,
        raw_output=generation.text,
        html=outcome.html,
        summary=outcome.summary,
        edit_mode=outcome.edit_mode,
        sanitizer_notes=list(outcome.notes),
        model_id=generation.model_id,
        stop_reason=stop_reason,
        usage=generation.usage,
        cost=generation.cost,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
    )


async def _run(generation: Generation) -> None:
    accepted = generation.accepted
    is_edit = accepted.version.kind == PrototypeVersion.Kind.EDIT
    try:
        assert accepted.request is not None, "a replayed request has no generation to run"
        stop = await _stream(generation, accepted.request)
        outcome = outcome_of(
            parsed=generation.parser.result(),
            stop_reason=stop.stop_reason,
            base_html=accepted.base_html,
            is_edit=is_edit,
            rewrite=False,
        )
        if outcome.needs_rewrite:
            generation.parser = AnswerParser()
            generation.text_parts.append("\n\n")
            request = prompts.rewrite_request(
                base_html=accepted.base_html,
                prompt=accepted.edit_prompt,
                user_id=accepted.request.context.user_id,
                version_id=generation.version_id,
            )
            stop = await _stream(generation, request, phase="rewrite")
            outcome = outcome_of(
                parsed=generation.parser.result(),
                stop_reason=stop.stop_reason,
                base_html=accepted.base_html,
                is_edit=True,
                rewrite=True,
            )
        await _finish(generation, outcome, stop.stop_reason.value)
        if outcome.status == Status.ERROR:
            generation.log.append(
                "error", {"code": outcome.error_code, "message": outcome.error_message, "retryable": True}
            )
        else:
            generation.log.append("message_stop", _stop_data(generation, stop.stop_reason.value, outcome.status))
    except LLMError as error:
        _start(generation, error.model_id or "")
        generation.model_id = generation.model_id or error.model_id or ""
        cut_off = error.after_content or error.kind is FailureKind.TRUNCATED
        parsed = generation.parser.result()
        partial = sanitize_html(parsed.html) if parsed.html else None
        await _afinish(
            version_id=generation.version_id,
            status=Status.INCOMPLETE if cut_off else Status.ERROR,
            raw_output=generation.text,
            html=partial.html if partial else "",
            summary=parsed.summary,
            sanitizer_notes=list(partial.notes) if partial else [],
            model_id=generation.model_id,
            usage=generation.usage,
            cost=generation.cost,
            error_code=error.code,
            error_message=error.message,
        )
        generation.log.append("error", {"code": error.code, "message": error.message, "retryable": error.retryable})
    except asyncio.CancelledError:
        await asyncio.shield(_end_cancelled(generation))
        if not generation.stop_requested:
            raise
    except Exception as exc:
        logger.exception("prototype generation %s failed", generation.version_id)
        _start(generation, "")
        code = getattr(exc, "code", "internal_error")
        await _afinish(
            version_id=generation.version_id,
            status=Status.ERROR,
            raw_output=generation.text,
            error_code=code,
            error_message="The prototype could not be generated.",
        )
        generation.log.append(
            "error", {"code": code, "message": "The prototype could not be generated.", "retryable": True}
        )
    finally:
        registry.finished(generation.version_id)


async def _end_cancelled(generation: Generation) -> None:
    _start(generation, "")
    if generation.stop_requested:
        await _afinish(
            version_id=generation.version_id,
            status=Status.CANCELLED,
            raw_output=generation.text,
            stop_reason="cancelled",
        )
        generation.log.append("message_stop", _stop_data(generation, "cancelled", Status.CANCELLED))
    else:
        await _afinish(
            version_id=generation.version_id,
            status=Status.INTERRUPTED,
            raw_output=generation.text,
            error_code="interrupted",
            error_message="The generation was interrupted by a server restart.",
        )
        generation.log.append(
            "error", {"code": "interrupted", "message": "The generation was interrupted.", "retryable": True}
        )
    await streams.registry.flush()


# --- Stop ---------------------------------------------------------------------------------------------------


async def generation_stop(*, version_id: UUID) -> bool:
    """Stop a generation. True when it ran here and has ended `cancelled`; else a flag is left for its process."""
    return await registry.stop(version_id)


async def shutdown() -> None:
    """Cancel every running generation (they end `interrupted`) and flush the logs."""
    await registry.shutdown()
