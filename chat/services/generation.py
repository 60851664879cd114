"""Generations: an answer produced independently of the HTTP connection that asked for it.

A generation is an asyncio task in the web process (never a thread per stream). It streams
from the LLM layer, appends numbered events to the message's event log (`backend.streams`),
and ends the assistant message in exactly one terminal state:

- `complete`: the model finished (`message_stop`);
- `error`: the model failed (`error` event; the partial text is kept);
- `cancelled`: the user pressed stop (`message_stop` with stop reason `cancelled`);
- `interrupted`: the process stopped while generating (or, if it died, the sweeper says so).

A client disconnect does not stop a generation: the client resumes from the log. One loop per
process does the periodic database work for all running generations at once — a heartbeat
and a checkpoint of their partial text in a single UPDATE — so the per-token path never
touches the database.
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
from django.db import transaction
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from backend import generations, streams
from backend.db import db_sync_to_async
from backend.llm import service as llm
from backend.llm.errors import LLMError
from backend.llm.types import StreamStart, StreamStop, TextDelta, Usage
from chat.models import Chat, Message
from chat.services import memory, titles
from chat.services.context import BuiltContext, context_build
from chat.services.usage import usage_add

logger = logging.getLogger(__name__)


@dataclass
class Generation:
    """A running generation in this process."""

    message_id: UUID
    ids: dict[str, str]
    log: streams.LocalLog
    text_parts: list[str] = field(default_factory=list)
    checkpointed_chars: int = 0
    stop_requested: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


# --- Database writes (sync, run off the event loop) ----------------------------------------------


def generation_finish(
    *,
    message_id: UUID,
    status: str,
    text: str,
    model_id: str = "",
    stop_reason: str = "",
    usage: Usage | None = None,
    cost: Decimal = Decimal(0),
    error_code: str = "",
    error_message: str = "",
) -> bool:
    """Write the terminal state of an assistant message, once. False if it was already terminal."""
    usage = usage or Usage()
    with transaction.atomic():
        updated = Message.objects.filter(id=message_id, status=Message.Status.STREAMING).update(
            status=status,
            text=text,
            model_id=model_id,
            stop_reason=stop_reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost=cost,
            error_code=error_code,
            error_message=error_message[:500],
            completed_at=timezone.now(),
        )
        if not updated:
            return False
        chat = Chat.objects.get(pairs__messages__id=message_id)
        Chat.objects.filter(id=chat.id).update(updated_at=timezone.now())
        if model_id and (usage.input_tokens or usage.output_tokens):
            usage_add(chat=chat, purpose="chat", model_id=model_id, usage=usage, cost=cost)
        if status == Message.Status.COMPLETE:  # background follow-ups, enqueued on commit
            titles.title_schedule(chat=chat)
            memory.memory_schedule(chat=chat, message_id=message_id)
    return True


def generations_checkpoint(*, texts: dict[UUID, str], alive: list[UUID]) -> None:
    """One UPDATE for every running generation: heartbeat, plus partial text where it grew."""
    now = timezone.now()
    if texts:
        Message.objects.filter(id__in=list(texts), status=Message.Status.STREAMING).update(
            text=Case(*(When(id=mid, then=Value(text)) for mid, text in texts.items()), output_field=TextField()),
            heartbeat_at=now,
        )
    rest = [mid for mid in alive if mid not in texts]
    if rest:
        Message.objects.filter(id__in=rest, status=Message.Status.STREAMING).update(heartbeat_at=now)


def generations_sweep() -> int:
    """Turn streaming messages whose generation stopped heart-beating into `interrupted`.

    Run periodically by Celery beat. The partial text last checkpointed is kept, and a terminal
    event is appended to the message's event log so that followers stop waiting.
    """
    horizon = timezone.now() - timedelta(seconds=settings.CHAT_STALE_GENERATION_SECONDS)
    stale = list(
        Message.objects.filter(status=Message.Status.STREAMING, heartbeat_at__lt=horizon).values_list("id", flat=True)
    )
    swept = 0
    for message_id in stale:
        if generation_finish(
            message_id=message_id,
            status=Message.Status.INTERRUPTED,
            text=Message.objects.get(id=message_id).text,
            error_code="interrupted",
            error_message="The answer was interrupted by a server restart.",
        ):
            swept += 1
            streams.append_terminal_sync(
                str(message_id),
                "error",
                {"code": "interrupted", "message": "The answer was interrupted.", "retryable": True},
            )
    if swept:
        logger.warning("marked %d stale generations interrupted", swept)
    return swept


_afinish = db_sync_to_async(generation_finish)
_acheckpoint = db_sync_to_async(generations_checkpoint)
_abuild = db_sync_to_async(context_build)

registry: generations.Registry[Generation] = generations.Registry("chat", checkpoint=_acheckpoint)


# --- The generation task ----------------------------------------------------------------------------


def generation_launch(
    *, assistant_message: Message, ids: dict[str, str], built: BuiltContext | None = None
) -> Generation:
    """Start generating `assistant_message` in this process; returns once its log exists.

    `built` is the context when the caller already assembled it (in the same thread hop as
    accepting the message); otherwise the generation assembles it first.
    """
    log = streams.registry.open(str(assistant_message.id))
    generation = Generation(message_id=assistant_message.id, ids=ids, log=log)
    registry.start(assistant_message.id, generation, _run(generation, assistant_message, built))
    return generation


def _message_start(generation: Generation, model_id: str, omitted: list[UUID]) -> None:
    generation.log.append(
        "message_start", {**generation.ids, "model": model_id, "omitted_pair_ids": [str(i) for i in omitted]}
    )


async def _run(generation: Generation, assistant_message: Message, built: BuiltContext | None) -> None:
    started = False
    omitted: list[UUID] = []
    try:
        if built is None:
            built = await _abuild(assistant_message=assistant_message)
        omitted = built.omitted_pair_ids
        async for event in llm.astream(built.request):
            if isinstance(event, TextDelta):
                generation.text_parts.append(event.text)
                generation.log.append("delta", {"text": event.text})
            elif isinstance(event, StreamStart):
                started = True
                _message_start(generation, event.model_id, omitted)
            elif isinstance(event, StreamStop):
                await _afinish(
                    message_id=generation.message_id,
                    status=Message.Status.COMPLETE,
                    text=generation.text,
                    model_id=event.model_id,
                    stop_reason=event.stop_reason.value,
                    usage=event.usage,
                    cost=event.cost,
                )
                generation.log.append(
                    "message_stop",
                    {"stop_reason": event.stop_reason.value, "model": event.model_id, "usage": event.usage.as_dict()},
                )
    except LLMError as error:
        if not started:
            _message_start(generation, error.model_id or "", omitted)
        await _afinish(
            message_id=generation.message_id,
            status=Message.Status.ERROR,
            text=generation.text,
            model_id=error.model_id or "",
            error_code=error.code,
            error_message=error.message,
        )
        generation.log.append("error", {"code": error.code, "message": error.message, "retryable": error.retryable})
    except asyncio.CancelledError:
        await asyncio.shield(_end_cancelled(generation, started, omitted))
        if not generation.stop_requested:
            raise  # the process is shutting down: let the cancellation finish
    except Exception as exc:
        logger.exception("generation %s failed", generation.message_id)
        if not started:
            _message_start(generation, "", omitted)
        await _afinish(
            message_id=generation.message_id,
            status=Message.Status.ERROR,
            text=generation.text,
            error_code=getattr(exc, "code", "internal_error"),
            error_message="The answer could not be generated.",
        )
        generation.log.append(
            "error",
            {
                "code": getattr(exc, "code", "internal_error"),
                "message": "The answer could not be generated.",
                "retryable": True,
            },
        )
    finally:
        registry.finished(generation.message_id)


async def _end_cancelled(generation: Generation, started: bool, omitted: list[UUID]) -> None:
    if not started:
        _message_start(generation, "", omitted)
    if generation.stop_requested:
        await _afinish(
            message_id=generation.message_id,
            status=Message.Status.CANCELLED,
            text=generation.text,
            stop_reason="cancelled",
        )
        generation.log.append("message_stop", {"stop_reason": "cancelled", "model": "", "usage": Usage().as_dict()})
    else:
        await _afinish(
            message_id=generation.message_id,
            status=Message.Status.INTERRUPTED,
            text=generation.text,
            error_code="interrupted",
            error_message="The answer was interrupted by a server restart.",
        )
        generation.log.append(
            "error", {"code": "interrupted", "message": "The answer was interrupted.", "retryable": True}
        )
    await streams.registry.flush()


# --- Stop ------------------------------------------------------------------------------------------------


async def generation_stop(*, message_id: UUID) -> bool:
    """Stop a generation. True when it ran in this process and has ended `cancelled` on return.

    Otherwise a stop flag is left in the shared cache, and the process running it cancels it
    within `backend.generations.STOP_POLL_SECONDS`.
    """
    return await registry.stop(message_id)


async def shutdown() -> None:
    """Cancel every running generation (they end `interrupted`) and flush the logs."""
    await registry.shutdown()


def stream_ids(*, accepted: Any) -> dict[str, str]:
    return {
        "chat_id": str(accepted.chat.id),
        "pair_id": str(accepted.pair.id),
        "user_message_id": str(accepted.user_message.id),
        "assistant_message_id": str(accepted.assistant_message.id),
    }
