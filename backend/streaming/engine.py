"""The streaming engine: one lifecycle for every answer the product streams.

An app (chat answers, prototype versions, and every later feature that streams) supplies an
`Adapter`; the engine owns the rest:

- **admission** (`Engine.admit`, sync, on a database thread): an `Idempotency-Key` replays the
  generation it started; the user's monthly budget is checked (`backend.llm.budget`: 402
  before any model call; the run's own calls are not checked again, so a running answer is
  never cut, and it ends with a `budget_warning` event when it crossed the warning share);
  the user's concurrency slot is claimed (orphans of dead processes
  are swept first, so a crash never holds a slot); the adapter's `accept` writes the turn and
  its record in status `streaming` in one transaction;
- **launch** (`Engine.admit_and_launch`): admission and the start of the generation run as one
  task that a client disconnect cannot cancel: an accepted turn is always generated. An
  adapter may start the run just before its record's one durable write (`launch_before_write`):
  the model call then opens during the write, and the run writes nothing until it is done;
  a failed write abandons it;
- **the run** (`Engine._run`): an asyncio task, independent of any connection, appends numbered
  events to the generation's log (`backend.streaming.log`); the adapter's `run` streams model
  calls through `Run.stream` and returns an `Outcome`; the engine turns every ending — done,
  failed, stopped, interrupted by shutdown — into exactly one terminal state in the database and
  exactly one terminal event, both carrying the model that was called and the usage billed;
- **stop** here or in another process, **checkpoints** and heart-beats (one UPDATE per engine
  and interval, none per token), the **sweeper** for generations whose process died, and
  **shutdown** (running generations get a grace period, then end `interrupted`).

Replaying events to clients lives in `backend.streaming.replay`; the HTTP side in
`backend.streaming.http`. The protocol is documented in docs/streaming.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, IntegerField, QuerySet, TextField, Value, When
from django.utils import timezone
from django.utils.module_loading import import_string

from backend import errors
from backend.db import GuardFailed, SqlGuard, db_call, db_sync_to_async, guard_holds
from backend.llm import budget
from backend.llm import service as llm
from backend.llm import usage as usage_ledger
from backend.llm.errors import LLMError
from backend.llm.types import LLMRequest, StopReason, StreamStart, StreamStop, TextDelta, ToolUseEvent, Usage
from backend.llm.usage import CallReport, HeldUsage, UsageRecord
from backend.streaming import workers
from backend.streaming.log import LocalLog, close_orphaned_log, logs
from backend.streaming.models import STREAMING, IdempotencyKey

logger = logging.getLogger(__name__)

T = TypeVar("T")

STOP_POLL_SECONDS = 0.05
# Every this many seconds the stop flags of all running generations are read even when no stop
# was announced (`stop_epoch_key`): a flag set while its generation was being launched is seen.
STOP_FULL_READ_SECONDS = 1.0
ALIVE_EVERY_SECONDS = 1.0

# Error codes after which retrying the same request cannot help.
NOT_RETRYABLE = frozenset({errors.ErrorCode.LLM_CLIENT_ERROR})


# --- What an app supplies and gets ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str
    retryable: bool = True


@dataclass
class Outcome:
    """How a generation ended, as the adapter (or the engine) decided.

    `status` is a status of the app's record; `failure` makes the terminal event an `error`
    (else `message_stop`, with `stop_reason`); `note` is a code and message recorded on an
    answer that ended normally but short of what was asked (a prototype cut off at
    `max_tokens`); `fields` are app columns written with the terminal state (a prototype's
    page, say); `event_data` are extra fields of the terminal event.
    """

    status: str
    stop_reason: str = ""
    failure: Failure | None = None
    note: Failure | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    event_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Admission:
    """A generation the server accepted. `replayed`: an Idempotency-Key matched an earlier one."""

    record_id: UUID
    payload: Any = None  # what the adapter's `run` needs; None for a replay
    replayed: bool = False
    user_id: Any = None  # who asked (set by the engine's admission); None for anonymous generations
    budget_limits: budget.BudgetLimits | None = None  # the user's limits as admission read them


class Adapter(Protocol):
    """What an app tells the engine. Only `run` is async; the rest runs on a database thread."""

    scope: str  # names the logs, stop flags, idempotency keys and log lines: "chat", "prototypes", ...
    # Optional `finished_related`: relations `finished` reads, loaded with the record in one query.
    # Optional `atomic_accept = True`: `accept` commits its rows atomically by itself, so admission
    # without an Idempotency-Key opens no transaction around it (one round trip less, or two).
    # Optional `running_count(user=, guard=) -> (int, BudgetLimits | None)`: `running(user=user).count()`,
    # without building the query, and the user's budget limits when the same statement read them.
    # Optional `finish_in_one_statement(record_id=, values=, outcome=, ledger=) -> bool | None`: the
    # terminal `values`, `finished`'s own writes and the held usage rows `ledger` (`backend.llm.usage`)
    # in one statement (True: written; False: the record had already ended, the rows still written;
    # None: not here, nothing written — the engine writes the rows, then its transaction and `finished`).
    record_model: Any  # a concrete subclass of GenerationRecord (a Protocol attribute cannot vary)
    text_field: str  # the record's column the streamed text goes to

    def max_concurrent(self) -> int: ...

    def running(self, *, user: Any) -> QuerySet[Any]:
        """The user's records in status `streaming` (for the concurrency limit)."""
        ...

    def prepare(self, admission: Admission) -> None:
        """Work after the turn is committed, in the same database hop (chat assembles its context)."""
        ...

    def start_data(self, record: Any) -> dict[str, Any]:
        """The ids of `message_start` for a stored record (its live `Run.start_fields`)."""
        ...

    def terminal_data(self, record: Any) -> dict[str, Any]:
        """Extra fields of the terminal event for a stored record (its live `Outcome.event_data`)."""
        ...

    async def run(self, run: Run) -> Outcome:
        """Produce the answer: stream model calls with `run.stream(...)`, return how it ended.

        An `LLMError` that escapes becomes an `error` outcome through `failed`.
        """
        ...

    def failed(self, run: Run, error: LLMError) -> Outcome:
        """The outcome of a model failure (chat: `error`; prototypes may keep a partial page)."""
        ...

    def finished(self, *, record: Any, outcome: Outcome) -> None:
        """App rows to update with the terminal state, in its transaction (roll-ups, follow-up tasks)."""
        ...


def failure_outcome(error: LLMError) -> Outcome:
    return Outcome(status="error", failure=Failure(error.code, error.message, error.retryable))


# --- A running generation --------------------------------------------------------------------------


@dataclass
class Run:
    """One generation in this process: its log, its text, and what its model calls cost."""

    engine: Engine
    record_id: UUID
    admission: Admission
    log: LocalLog
    start_fields: dict[str, Any] = field(default_factory=dict)
    text_parts: list[str] = field(default_factory=list)
    reports: list[CallReport] = field(default_factory=list)
    tool_uses: list[ToolUseEvent] = field(default_factory=list)
    started_model: str | None = None
    checkpointed_chars: int = -1
    stop_requested: bool = False
    began: float = field(default_factory=time.perf_counter)
    task: asyncio.Task[None] | None = None
    # The ledger rows of this run's model calls, written with its next database write (set in its task).
    held_usage: HeldUsage = field(default_factory=HeldUsage)
    # Database work the adapter leaves for the terminal write's hop (bookkeeping that need not
    # delay the first token), run after the terminal state is written, whatever the outcome.
    terminal_writes: list[Callable[[], None]] = field(default_factory=list)
    # Launched before its record was written (`launch_before_write`): resolved True once the
    # admission committed it, False when the admission failed (the run is abandoned). No database
    # write of the run happens before it resolves True.
    gate: asyncio.Future[bool] | None = None

    @property
    def payload(self) -> Any:
        return self.admission.payload

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def model_id(self) -> str:
        """The model last called (after any fallback), or the one that started answering."""
        for report in reversed(self.reports):
            if report.model_id:
                return report.model_id
        return self.started_model or ""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for report in self.reports:
            total = Usage(
                input_tokens=total.input_tokens + report.usage.input_tokens,
                output_tokens=total.output_tokens + report.usage.output_tokens,
                cache_read_tokens=total.cache_read_tokens + report.usage.cache_read_tokens,
                cache_write_tokens=total.cache_write_tokens + report.usage.cache_write_tokens,
                estimated=total.estimated or report.usage.estimated,
            )
        return total

    @property
    def cost(self) -> Decimal:
        return sum((report.cost for report in self.reports), Decimal(0))

    def started(self, model_id: str) -> None:
        """Append `message_start` (once), naming the model that answers."""
        if self.started_model is None:
            self.started_model = model_id
            self.log.append("message_start", {**self.start_fields, "model": model_id})

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """An app event between `message_start` and the terminal event (e.g. `citations`, `result`)."""
        self.started(self.model_id)
        self.log.append(event_type, data)

    def append_text(self, text: str, **extra: Any) -> None:
        self.text_parts.append(text)
        self.log.append("delta", {"text": text, **extra} if extra else {"text": text})

    async def committed(self) -> None:
        """Return once the record is written (at once, unless the run was launched before its write).

        Raises CancelledError when its admission failed: the run is being abandoned.
        """
        if self.gate is not None and not await asyncio.shield(self.gate):
            raise asyncio.CancelledError

    async def in_database(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` on a database thread, after the ledger rows this run holds
        are written in the same hop: an adapter's own database work during the run (the admin
        assistant's query of the data, the ledger included) sees every call made so far."""
        await self.committed()
        held = self.held_usage.take()

        def hop() -> T:
            usage_ledger.record_usages(held)
            return function(*args, **kwargs)

        return await db_sync_to_async(hop)()

    async def stream(self, request: LLMRequest, **delta_extra: Any) -> StreamStop:
        """One model call, streamed into the log; returns its stop event. Raises LLMError.

        `delta_extra` are extra fields of each `delta` (a prototype's rewrite phase). The call's
        tool use blocks are collected in `tool_uses`; what it billed is in `reports`, whatever
        way it ends.
        """
        if self.held_usage.records:  # an earlier call's rows (several calls): written before the next one
            await self.committed()
            await usage_ledger.arecord_usages(self.held_usage.take())
        report = CallReport()
        self.reports.append(report)
        stop: StreamStop | None = None
        # Closed here however the loop ends: a run cancelled while it waits between two events
        # (below) leaves the model's stream suspended, and only its closing records what the
        # call billed. Left to the collector, that record came after the run's terminal write
        # had taken the held rows, and was written on its own, later, or not at all.
        async with contextlib.aclosing(llm.astream(request, report=report)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    first = not self.text_parts
                    self.append_text(event.text, **delta_extra)
                    if first:
                        # The readers send the first token before this task parses the rest of what
                        # the upstream already delivered (a burst read in one go never yields
                        # otherwise). A run started before its record was written waits for the
                        # write first: no reader exists before it, and the admission's return and
                        # the response's start are what the first token waits for then, not the
                        # rest of the burst.
                        if self.gate is not None and not self.gate.done():
                            await self.committed()
                        await asyncio.sleep(0)
                elif isinstance(event, StreamStart):
                    self.started(event.model_id)
                elif isinstance(event, StreamStop):
                    stop = event
                elif isinstance(event, ToolUseEvent):
                    self.tool_uses.append(event)
        assert stop is not None, "the LLM layer ends every stream with a stop event or an error"
        if stop.stop_reason == StopReason.TOOL_USE and self.held_usage.records:
            # Tools run next, and a destructive one waits for the user: the row is not held that long.
            await self.committed()
            await usage_ledger.arecord_usages(self.held_usage.take())
        return stop


def budget_warning_data(status: budget.BudgetStatus) -> dict[str, Any]:
    """The payload of a `budget_warning` event."""
    details = status.as_details()
    return {
        "limit_tokens": details["limit_tokens"],
        "limit_usd": details["limit_usd"],
        "spent_tokens": details["spent_tokens"],
        "spent_usd": details["spent_usd"],
        "resets_at": details["reset_at"],
        "percent": int(status.ratio * 100),
    }


# --- The engine ------------------------------------------------------------------------------------------


def _terminal_event(
    *, failure: Failure | None, stop_reason: str, model_id: str, usage: dict[str, int], extra: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The terminal event, the same for a live generation and a stored record."""
    common = {"model": model_id, "usage": usage, **extra}
    if failure is not None:
        return "error", {"code": failure.code, "message": failure.message, "retryable": failure.retryable, **common}
    return "message_stop", {"stop_reason": stop_reason, **common}


@dataclass(frozen=True, slots=True)
class StoredState:
    """A record as a replay needs it."""

    start: dict[str, Any]
    text: str
    event_seq: int
    terminal: tuple[str, dict[str, Any]] | None


class Engine:
    """The lifecycle of one app's generations in this process (see the module docstring)."""

    instances: ClassVar[dict[str, Engine]] = {}

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.scope = adapter.scope
        self.running: dict[UUID, Run] = {}
        self.draining = False
        self._stop_epoch_seen: Any = None  # the stop epoch when the flags were last read
        self._stop_flags_read_at = 0.0
        Engine.instances[self.scope] = self

    # --- Names ----------------------------------------------------------------------------------

    def log_key(self, record_id: UUID | str) -> str:
        return f"{self.scope}:{record_id}"

    def stop_key(self, record_id: UUID | str) -> str:
        return f"stream:stop:{self.scope}:{record_id}"

    def stop_epoch_key(self) -> str:
        """Changed after every stop flag is written: processes read their flags when it changes."""
        return f"stream:stop-epoch:{self.scope}"

    def _announce_stops(self) -> None:
        cache.set(self.stop_epoch_key(), time.time_ns(), None)

    @staticmethod
    def new_record_fields() -> dict[str, Any]:
        """The generation fields of a new record: streaming, in this process, alive now."""
        return {"status": STREAMING, "worker_id": workers.worker_id(), "heartbeat_at": timezone.now()}

    # --- Admission (sync, database thread) ------------------------------------------------------

    def admit(
        self,
        *,
        user: Any,
        accept: Callable[[], Admission],
        idempotency_key: str | None = None,
        fingerprint: str = "",
        guard: SqlGuard | None = None,
    ) -> Admission:
        """Accept a generation once: replay its Idempotency-Key, claim a slot, write it durably.

        Raises Conflict when the key was used for another request, BudgetExhausted (402) when
        the user's monthly budget is used up, RateLimited when the user runs too many
        generations, ServiceUnavailable while this process shuts down, and whatever `accept`
        raises (nothing is written then). A replay is served whatever the budget: it costs nothing.

        `guard`: `user` was trusted from memory (a process-local memo of a verified token); the
        slot's count checks the guard before anything else is read or written, and GuardFailed
        is raised when it does not hold. Not with an Idempotency-Key: a replay reads the earlier
        answer before any count.
        """
        if guard is not None and idempotency_key:
            raise ValueError("a guarded admission cannot replay an Idempotency-Key")
        if self.draining:
            raise errors.ServiceUnavailable(
                "The server is restarting. Try again in a moment.", code=errors.ErrorCode.SHUTTING_DOWN
            )
        if idempotency_key:
            replay = self._replay(user=user, key=idempotency_key, fingerprint=fingerprint)
            if replay is not None:
                return replay
        user_id = getattr(user, "pk", None)
        read_limits = self._claim_slot(user=user, guard=guard)
        # Before any upstream call: the error comes as JSON, not a stream.
        limits = budget.check_budget(user_id, limits=read_limits)
        _keep_alive_from_thread()
        # The key and the turn commit together. Without a key, an adapter whose `accept` is atomic
        # by itself (one statement, or its own transaction) needs no transaction around it.
        atomic = idempotency_key or not getattr(self.adapter, "atomic_accept", False)
        # `launch_before_write` may start the run while `accept` writes (not for a keyed request:
        # it may repeat one already accepted, and nothing is started before that is known).
        early = _early_start.get()
        if early is not None and (early.engine is not self or idempotency_key):
            early = None
        if early is not None:
            early.arm(user_id=user_id, limits=limits)
        try:
            with transaction.atomic() if atomic else contextlib.nullcontext():
                admission = replace(accept(), user_id=user_id, budget_limits=limits)
                if idempotency_key:
                    IdempotencyKey.objects.create(
                        user=user,
                        scope=self.scope,
                        key=idempotency_key,
                        request_hash=fingerprint,
                        record_id=admission.record_id,
                    )
        except IntegrityError:
            # A concurrent request with the same key won the race: replay its generation.
            replay = self._replay(user=user, key=idempotency_key, fingerprint=fingerprint) if idempotency_key else None
            if replay is None:
                raise
            return replay
        finally:
            if early is not None:
                early.disarm()
        if early is not None and early.launched(admission.record_id):
            return admission  # prepared and running already, waiting for this return
        try:
            self.adapter.prepare(admission)
        except Exception:  # the run prepares again, and ends the record `error` if it fails there too
            logger.warning("%s: preparing %s failed", self.scope, admission.record_id, exc_info=True)
        return admission

    def _replay(self, *, user: Any, key: str, fingerprint: str) -> Admission | None:
        horizon = timezone.now() - timedelta(hours=settings.STREAM_IDEMPOTENCY_TTL_HOURS)
        record = IdempotencyKey.objects.filter(user=user, scope=self.scope, key=key, created_at__gte=horizon).first()
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise errors.Conflict(
                "This Idempotency-Key was already used for a different request.",
                code=errors.ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return Admission(record_id=record.record_id, replayed=True)

    def _claim_slot(self, *, user: Any, guard: SqlGuard | None = None) -> budget.BudgetLimits | None:
        """Refuse a generation over the user's limit of running ones; the budget limits if read too."""
        limit = self.adapter.max_concurrent()
        count = getattr(self.adapter, "running_count", None)
        limits = None
        if count is not None:
            active, limits = count(user=user, guard=guard)
        else:
            if guard is not None and not guard_holds(guard):
                raise GuardFailed
            active = self.adapter.running(user=user).count()
        if active < limit:
            return limits  # the usual case: one cheap count
        running_records = self.adapter.running(user=user)
        running = list(running_records.values_list("id", "worker_id", "heartbeat_at"))
        # Over the limit: generations of processes that died hold no slot.
        freed = self._sweep_rows(running)
        if len(running) - freed >= limit:
            raise errors.RateLimited(
                "Too many answers are being generated at once. Wait for one to finish.",
                code=errors.ErrorCode.TOO_MANY_GENERATIONS,
                retry_after=5,
                details={"limit": limit},
            )
        return limits

    # --- Launch (event loop) --------------------------------------------------------------------

    async def admit_and_launch(self, admit: Callable[[], Admission]) -> Admission:
        """Run `admit` on a database thread and start the generation it accepted.

        The hop is `db_call`'s: admission sets no context variable that the run reads (the run
        marks its own budget admission and holds its own usage rows, in its task).
        Call through `asyncio.shield` (as `backend.streaming.http.start_response` does): the
        work goes on when the client that asked for it goes away, so an accepted turn is always
        generated.

        An adapter's `accept` may start the run just before its one durable write
        (`launch_before_write`): the model call is then opened while the record is written
        instead of after. Such a run writes nothing before the admission returns; when the
        admission fails instead, it is abandoned (`Engine.abandon`).
        """
        early = EarlyStart(self, asyncio.get_running_loop())
        try:
            admission = await db_call(early.admit, admit)
        except BaseException:
            early.settle(None)
            raise
        if early.settle(None if admission.replayed else admission.record_id):
            return admission
        if not admission.replayed:
            self.launch(admission)
        return admission

    def launch(
        self,
        admission: Admission,
        *,
        start_fields: dict[str, Any] | None = None,
        gate: asyncio.Future[bool] | None = None,
    ) -> Run:
        """Start generating `admission`'s record in this process (call from the event loop).

        `gate`: the record is not written yet (`Run.gate`).
        """
        record_id = admission.record_id
        run = Run(
            engine=self,
            record_id=record_id,
            admission=admission,
            log=logs.open(self.log_key(record_id)),
            start_fields=dict(start_fields or getattr(admission.payload, "start_fields", {}) or {}),
            gate=gate,
        )
        self.running[record_id] = run
        run.task = asyncio.get_running_loop().create_task(self._run(run), name=f"{self.scope}-{record_id}")
        maintenance.ensure_running()
        return run

    # --- The run ----------------------------------------------------------------------------------

    async def _run(self, run: Run) -> None:
        # Admission checked the budget: the model calls of this answer are not refused midway
        # (the task runs in its own copy of the context, so the mark ends with it).
        budget.mark_admitted()
        run.held_usage = usage_ledger.hold_usage()
        try:
            try:
                outcome = await self.adapter.run(run)
            except LLMError as error:
                outcome = self.adapter.failed(run, error)
            except asyncio.CancelledError:
                if run.stop_requested:
                    outcome = Outcome(status="cancelled", stop_reason="cancelled")
                else:
                    outcome = Outcome(
                        status="interrupted",
                        failure=Failure("interrupted", "The answer was interrupted by a server restart."),
                    )
                await asyncio.shield(self._end(run, outcome))
                if not run.stop_requested:
                    raise  # the process is shutting down: let the cancellation finish
                return
            except Exception as exc:
                logger.exception("%s generation %s failed", self.scope, run.record_id)
                code = str(getattr(exc, "code", "") or "internal_error")
                outcome = Outcome(status="error", failure=Failure(code, "The answer could not be generated."))
            await asyncio.shield(self._end(run, outcome))
        finally:
            self.running.pop(run.record_id, None)

    def abandon(self, run: Run) -> None:
        """End a run launched before its record was written whose admission failed (event loop).

        Its task is cancelled, its log forgotten (no reader ever had its record id) and nothing
        is written but the usage rows of the model call it opened: what was billed is recorded.
        """
        if run.gate is not None and not run.gate.done():
            run.gate.set_result(False)
        # Here, not in the task: a task cancelled before its first step runs none of its code.
        if self.running.get(run.record_id) is run:
            del self.running[run.record_id]
        logs.discard(run.log)
        if run.task is not None:
            run.task.cancel()

    async def _abandoned(self, run: Run) -> None:
        held = run.held_usage.close()
        if held:
            try:
                await usage_ledger.arecord_usages(held)
            except Exception:
                logger.exception("%s generation %s: could not record its usage", self.scope, run.record_id)
        logger.info("%s generation %s abandoned: its admission failed", self.scope, run.record_id)

    async def _end(self, run: Run, outcome: Outcome) -> None:
        """Write the terminal state, then append the terminal event: the same text, model and usage."""
        if run.gate is not None and not await run.gate:  # (shielded by the callers)
            await self._abandoned(run)
            return
        run.started(run.model_id)  # every stream starts with message_start, even one that failed at once
        text, model_id, usage, cost = run.text, run.model_id, run.usage, run.cost
        terminal_seq = run.log.last_seq + 1
        held = run.held_usage.close()

        def write() -> tuple[budget.BudgetStatus | None, StoredState | None]:
            # One database hop: the budget warning is decided before the terminal state is written
            # (its follow-up calls — titles, memory — are not billed yet), then the state is written
            # with the held ledger rows.
            warning = self._budget_warning(run, usage, cost, held)
            try:
                stored = self.finish(
                    record_id=run.record_id,
                    outcome=outcome,
                    text=text,
                    model_id=model_id,
                    usage=usage,
                    cost=cost,
                    event_seq=terminal_seq,
                    ledger=held,
                )
            except Exception:
                # The database is unreachable: the log still ends; the sweeper ends the record later.
                logger.exception("%s generation %s: could not write its terminal state", self.scope, run.record_id)
                stored = None
            for work in run.terminal_writes:
                try:
                    work()
                except Exception:
                    logger.exception("%s generation %s: a terminal write failed", self.scope, run.record_id)
            return warning, stored

        warning, stored = await db_call(write)  # it sets nothing in the context: the light hop
        if warning is not None:
            run.log.append("budget_warning", budget_warning_data(warning))
        if stored is None or stored.terminal is None:
            event_type, data = _terminal_event(
                failure=outcome.failure,
                stop_reason=outcome.stop_reason,
                model_id=model_id,
                usage=usage.as_dict(),
                extra=outcome.event_data,
            )
        else:
            # Someone else ended it first (the sweeper believed this process dead): the log ends
            # with what the database says, so every reader sees the stored text.
            run.log.append("snapshot", {"text": stored.text})
            event_type, data = stored.terminal
        run.log.append(event_type, data)
        await logs.flush(run.log)
        logger.info(
            "generation finished",
            extra={
                "scope": self.scope,
                "record_id": str(run.record_id),
                "user_id": getattr(run.payload, "user_id", None),
                "outcome": outcome.status,
                "model": model_id,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost": str(cost),
                "latency_ms": int((time.perf_counter() - run.began) * 1000),
                "error_code": outcome.failure.code if outcome.failure else "",
            },
        )

    def _budget_warning(
        self, run: Run, usage: Usage, cost: Decimal, held: list[UsageRecord]
    ) -> budget.BudgetStatus | None:
        """The status to warn about when this answer took its user past the warning share of a limit.

        `held`: the answer's ledger rows not written yet (they are written with the terminal state).
        """
        user_id, tokens = run.admission.user_id, usage.billed_tokens
        if user_id is None or (tokens <= 0 and cost <= 0):
            return None
        pending = [record for record in held if record.context.user_id == user_id]
        try:
            return budget.budget_crossed_warning(
                user_id=user_id,
                tokens=tokens,
                cost=cost,
                pending_tokens=sum(record.usage.billed_tokens for record in pending),
                pending_cost=sum((record.cost for record in pending), Decimal(0)),
                limits=run.admission.budget_limits,
            )
        except Exception:
            logger.warning("%s generation %s: could not check the budget", self.scope, run.record_id, exc_info=True)
            return None

    # --- Records (sync, database thread) ------------------------------------------------------------

    def finish(
        self,
        *,
        record_id: UUID,
        outcome: Outcome,
        text: str,
        model_id: str = "",
        usage: Usage | None = None,
        cost: Decimal = Decimal(0),
        event_seq: int = 0,
        ledger: list[UsageRecord] | None = None,
    ) -> StoredState | None:
        """Write a record's terminal state, once. None when written; the stored state if it already was.

        `ledger`: usage rows held by the generation (`backend.llm.usage.HeldUsage`), written in any case.
        """
        usage = usage or Usage()
        failure = outcome.failure
        # A stored record's terminal event is `error` exactly when it has an error code and no
        # stop reason (see `stored_state`): the outcome must say one or the other.
        assert not (failure and outcome.stop_reason), "a failed outcome has no stop reason"
        assert not (outcome.note and not outcome.stop_reason), "a noted outcome needs its stop reason"
        recorded = failure or outcome.note
        model = self.adapter.record_model
        values = {
            "status": outcome.status,
            "model_id": model_id,
            "stop_reason": outcome.stop_reason,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "cost": cost,
            "error_code": recorded.code if recorded else "",
            "error_message": recorded.message[:500] if recorded else "",
            "event_seq": event_seq,
            "completed_at": timezone.now(),
            self.adapter.text_field: text,
            **outcome.fields,
        }
        # An adapter may write the terminal state and its own rows in one statement (the chat's,
        # on PostgreSQL): True when it wrote them, False when the record had already ended, None
        # to take the path below.
        one_statement = getattr(self.adapter, "finish_in_one_statement", None)
        written = (
            one_statement(record_id=record_id, values=values, outcome=outcome, ledger=ledger or [])
            if one_statement
            else None
        )
        if written is not None:
            return None if written else self.stored_state(record_id)
        usage_ledger.record_usages(ledger or [])
        with transaction.atomic():
            updated = model.objects.filter(id=record_id, status=STREAMING).update(**values)
            if updated:
                related = getattr(self.adapter, "finished_related", ())
                record = (
                    model.objects.select_related(*related).get(id=record_id)
                    if related
                    else model.objects.get(id=record_id)
                )
                self.adapter.finished(record=record, outcome=outcome)
                return None
        return self.stored_state(record_id)

    def stored_state(self, record_id: UUID) -> StoredState:
        record = self.adapter.record_model.objects.get(id=record_id)
        terminal = None
        if record.is_terminal:
            failure = None
            if record.error_code and not record.stop_reason:
                failure = Failure(
                    record.error_code, record.error_message, retryable=record.error_code not in NOT_RETRYABLE
                )
            terminal = _terminal_event(
                failure=failure,
                stop_reason=record.stop_reason,
                model_id=record.model_id,
                usage=record.usage_dict(),
                extra=self.adapter.terminal_data(record),
            )
        return StoredState(
            start={**self.adapter.start_data(record), "model": record.model_id},
            text=getattr(record, self.adapter.text_field),
            event_seq=record.event_seq,
            terminal=terminal,
        )

    def checkpoint(self, *, texts: dict[UUID, tuple[str, int]], alive: list[UUID]) -> None:
        """One UPDATE for every running generation: heartbeat, plus partial text where it grew."""
        model = self.adapter.record_model
        now = timezone.now()
        rest = [rid for rid in alive if rid not in texts]
        if connection.vendor == "postgresql":
            self._checkpoint_sql(now=now, texts=texts, rest=rest)
            return
        if texts:
            model.objects.filter(id__in=list(texts), status=STREAMING).update(
                heartbeat_at=now,
                event_seq=Case(
                    *(When(id=rid, then=Value(seq)) for rid, (_, seq) in texts.items()), output_field=IntegerField()
                ),
                **{
                    self.adapter.text_field: Case(
                        *(When(id=rid, then=Value(text)) for rid, (text, _) in texts.items()),
                        output_field=TextField(),
                    )
                },
            )
        if rest:
            model.objects.filter(id__in=rest, status=STREAMING).update(heartbeat_at=now)

    def _checkpoint_sql(self, *, now: datetime, texts: dict[UUID, tuple[str, int]], rest: list[UUID]) -> None:
        """`checkpoint` on PostgreSQL: the new texts as arrays joined by `unnest`, no per-row CASE
        for the ORM to compile (it ran every STREAM_CHECKPOINT_SECONDS over every running answer)."""
        meta = self.adapter.record_model._meta
        table = connection.ops.quote_name(meta.db_table)
        column = {name: connection.ops.quote_name(meta.get_field(name).column) for name in ("id", "status")}
        heartbeat, seq = (
            connection.ops.quote_name(meta.get_field(name).column) for name in ("heartbeat_at", "event_seq")
        )
        text = connection.ops.quote_name(meta.get_field(self.adapter.text_field).column)
        with connection.cursor() as cursor:
            if texts:
                cursor.execute(
                    f"UPDATE {table} AS r SET {heartbeat} = %s, {seq} = v.seq, {text} = v.body"  # noqa: S608 - quoted names only
                    " FROM unnest(%s::uuid[], %s::integer[], %s::text[]) AS v(id, seq, body)"
                    f" WHERE r.{column['id']} = v.id AND r.{column['status']} = %s",
                    [
                        now,
                        list(texts),
                        [seq for _, seq in texts.values()],
                        [body for body, _ in texts.values()],
                        STREAMING,
                    ],
                )
            if rest:
                cursor.execute(
                    f"UPDATE {table} SET {heartbeat} = %s"  # noqa: S608 - quoted names only
                    f" WHERE {column['id']} = ANY(%s::uuid[]) AND {column['status']} = %s",
                    [now, rest, STREAMING],
                )

    # --- Sweeper (sync) ---------------------------------------------------------------------------------

    def sweep(self) -> int:
        """End the generations whose process died: `interrupted`, their stored text kept.

        A generation is orphaned when its process's liveness key is gone (after a short grace
        that covers admission), or when it has not heart-beaten for STREAM_STALE_SECONDS (a hung
        process). Returns how many were ended.
        """
        grace = timezone.now() - timedelta(seconds=settings.STREAM_ORPHAN_GRACE_SECONDS)
        rows = list(
            self.adapter.record_model.objects.filter(status=STREAMING, heartbeat_at__lt=grace).values_list(
                "id", "worker_id", "heartbeat_at"
            )
        )
        return self._sweep_rows(rows)

    def _sweep_rows(self, rows: list[tuple[UUID, str, Any]]) -> int:
        if not rows:
            return 0
        now = timezone.now()
        stale = now - timedelta(seconds=settings.STREAM_STALE_SECONDS)
        grace = now - timedelta(seconds=settings.STREAM_ORPHAN_GRACE_SECONDS)
        living = workers.alive(worker for _, worker, _ in rows)
        swept = 0
        for record_id, worker, heartbeat_at in rows:
            if record_id in self.running and worker == workers.worker_id():
                continue  # ours and running: alive by definition
            heartbeat = heartbeat_at or datetime.min.replace(tzinfo=UTC)
            if heartbeat >= grace or (worker in living and heartbeat >= stale):
                continue
            if self._end_orphan(record_id):
                swept += 1
        if swept:
            logger.warning("%s: ended %d generations whose process stopped", self.scope, swept)
        return swept

    def _end_orphan(self, record_id: UUID) -> bool:
        record = self.adapter.record_model.objects.filter(id=record_id).first()
        if record is None or record.is_terminal:
            return False
        outcome = Outcome(
            status="interrupted", failure=Failure("interrupted", "The answer was interrupted by a server restart.")
        )
        text = getattr(record, self.adapter.text_field)
        usage = Usage(
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_read_tokens=record.cache_read_tokens,
            cache_write_tokens=record.cache_write_tokens,
        )
        if self.finish(
            record_id=record_id,
            outcome=outcome,
            text=text,
            model_id=record.model_id,
            usage=usage,
            cost=record.cost,
            event_seq=record.event_seq,
        ):
            return False  # ended by someone else meanwhile
        state = self.stored_state(record_id)
        assert state.terminal is not None
        last = close_orphaned_log(
            self.log_key(record_id), after_seq=record.event_seq, events=[("snapshot", {"text": text}), state.terminal]
        )
        if last:
            self.adapter.record_model.objects.filter(id=record_id).update(event_seq=last)
        return True

    # --- Stop -----------------------------------------------------------------------------------------------

    async def stop(self, record_id: UUID) -> bool:
        """Stop a generation. True when it ran here and has ended on return; else a flag is left.

        The process running it sees the flag within STOP_POLL_SECONDS.
        """
        run = self.running.get(record_id)
        if run is not None and run.task is not None:
            run.stop_requested = True
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(run.task), timeout=5)
            return True

        def flag() -> None:
            cache.set(self.stop_key(record_id), 1, 600)
            self._announce_stops()  # after the flag: a process that sees the new epoch finds it

        await sync_to_async(flag, thread_sensitive=False)()
        return False

    def request_stop_for_user(self, user: Any) -> int:
        """Flag every running generation of `user` to stop, wherever it runs; returns how many.

        Sync (for services): the process running each one sees its flag within
        STOP_POLL_SECONDS and ends it `cancelled`, exactly as `POST …/stop/` would.
        """
        record_ids = list(self.adapter.running(user=user).values_list("id", flat=True))
        if record_ids:
            cache.set_many({self.stop_key(record_id): 1 for record_id in record_ids}, 600)
            self._announce_stops()
        return len(record_ids)

    async def _apply_remote_stops(self) -> None:
        """End the running generations another process flagged to stop.

        The flags are read when the stop epoch changed (one small read per poll otherwise: reading
        every running answer's flag twenty times a second cost ~14 µs per streamed token at 100
        streams) and every STOP_FULL_READ_SECONDS whatever it says.
        """
        if not self.running:
            return
        now = time.monotonic()
        try:
            # Read on the event loop where the cache can (`backend.cache.RedisCache`): twenty reads a
            # second through a thread each cost more than the read.
            epoch = await cache.aget(self.stop_epoch_key(), 0)
            if epoch == self._stop_epoch_seen and now - self._stop_flags_read_at < STOP_FULL_READ_SECONDS:
                return
            keys = {self.stop_key(record_id): record_id for record_id in self.running}
            found = await cache.aget_many(list(keys))
        except Exception:
            logger.warning("could not read %s stop flags", self.scope, exc_info=True)
            return
        self._stop_epoch_seen, self._stop_flags_read_at = epoch, now
        for stop_key in found:
            run = self.running.get(keys[stop_key])
            if run is not None and run.task is not None and not run.stop_requested:
                run.stop_requested = True
                run.task.cancel()

    async def _checkpoint_running(self) -> None:
        texts: dict[UUID, tuple[str, int]] = {}
        for record_id, run in list(self.running.items()):
            text = run.text
            if len(text) != run.checkpointed_chars:
                texts[record_id] = (text, run.log.last_seq)
                run.checkpointed_chars = len(text)
        try:
            await db_sync_to_async(self.checkpoint)(texts=texts, alive=list(self.running))
        except Exception:
            logger.warning("%s checkpoint failed", self.scope, exc_info=True)

    # --- Shutdown ---------------------------------------------------------------------------------------------

    async def interrupt_all(self) -> None:
        """Cancel every running generation here: each ends `interrupted` with a terminal event."""
        tasks = [run.task for run in self.running.values() if run.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- The process-wide loop: stops, checkpoints, liveness, sweeps ------------------------------------------


# --- Starting a run while its record is written ----------------------------------------------------

_early_start: contextvars.ContextVar[EarlyStart | None] = contextvars.ContextVar("early_start", default=None)


def launch_before_write(admission: Admission) -> None:
    """Start generating `admission` now, before the one write that makes its record durable.

    An adapter's `accept` calls it just before that write, with the admission it is about to
    return, when everything a run needs is known without the written rows (a chat turn: its
    context is read from rows already committed). The engine prepares it (`Adapter.prepare`) and
    launches its run on the event loop while the write goes on, so the model call is opened
    during the write instead of after it (docs/benchmarks.md measures the gain). The run writes
    nothing until the admission has returned (`Run.gate`), and no reader can know its record
    until then. When the admission fails after all, or `accept` returns another record (a turn
    written again after a race), the run is abandoned: its model call is closed and what it
    billed is recorded.

    Does nothing outside `Engine.admit_and_launch`, for a keyed request and for another engine.
    """
    early = _early_start.get()
    if early is not None:
        early.launch(admission)


class EarlyStart:
    """The runs `launch_before_write` started during one `Engine.admit_and_launch`."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        # Database thread: who is admitted while `accept` runs, and what was launched.
        self._armed: tuple[Any, budget.BudgetLimits | None] | None = None
        self._launched: set[UUID] = set()
        self.runs: dict[UUID, Run] = {}  # the event loop's side
        # The runs start in the context of the request's task, as `launch` after admission does
        # (not in the database thread's, where this object is set).
        self._context = contextvars.copy_context()

    def admit(self, admit: Callable[[], Admission]) -> Admission:
        """`admit()` (on the database thread, in the hop's own copy of the context)."""
        _early_start.set(self)
        return admit()

    def arm(self, *, user_id: Any, limits: budget.BudgetLimits | None) -> None:
        self._armed = (user_id, limits)

    def disarm(self) -> None:
        self._armed = None

    def launched(self, record_id: UUID) -> bool:
        return record_id in self._launched

    def launch(self, admission: Admission) -> None:
        if self._armed is None:  # not within the admission's `accept`
            return
        user_id, limits = self._armed
        admission = replace(admission, user_id=user_id, budget_limits=limits)
        try:
            self.engine.adapter.prepare(admission)
        except Exception:  # started after the write instead, and prepared again there
            logger.warning("%s: preparing %s failed", self.engine.scope, admission.record_id, exc_info=True)
            return
        self._launched.add(admission.record_id)
        # Queued before the admission's own result: it has run when `settle` is called.
        self.loop.call_soon_threadsafe(self._start, admission, context=self._context)

    def _start(self, admission: Admission) -> None:
        self.runs[admission.record_id] = self.engine.launch(admission, gate=self.loop.create_future())

    def settle(self, written: UUID | None) -> bool:
        """Open the gate of the run of `written` (the record the admission wrote); abandon the others.

        True when `written` is running already.
        """
        kept = False
        for record_id, run in self.runs.items():
            if record_id == written and run.gate is not None:
                run.gate.set_result(True)
                kept = True
            else:
                self.engine.abandon(run)
        self.runs.clear()
        return kept


def engines() -> list[Engine]:
    """Every engine named in STREAMING_ENGINES (importing them registers them)."""
    for path in settings.STREAMING_ENGINES:
        import_string(path)
    return list(Engine.instances.values())


def stop_user_generations(user: Any) -> int:
    """Stop every running generation of `user` in every app (e.g. when the account is deactivated)."""
    return sum(engine.request_stop_for_user(user) for engine in engines())


_last_alive_mark = 0.0


def _keep_alive_from_thread() -> None:
    """Refresh this process's liveness key before it writes a record naming it (rate-limited)."""
    global _last_alive_mark
    now = time.monotonic()
    if now - _last_alive_mark >= ALIVE_EVERY_SECONDS:
        _last_alive_mark = now
        workers.mark_alive()


class Maintenance:
    """Two tasks per process: one keeps the process alive; the other applies remote stops,
    checkpoints and sweeps.

    The liveness key has its own task because the other one waits for the database: under load
    a checkpoint queues behind hundreds of admissions on the database threads, and a liveness
    key left to expire meanwhile would let another process sweep this one's live generations.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._alive_task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._loop(), name="stream-maintenance")
        if self._alive_task is None or self._alive_task.done() or self._alive_task.get_loop() is not loop:
            self._alive_task = loop.create_task(self._alive_loop(), name="stream-liveness")

    async def _alive_loop(self) -> None:
        while True:
            try:
                await workers.amark_alive()
            except Exception:
                logger.warning("could not refresh this process's liveness key", exc_info=True)
            await asyncio.sleep(ALIVE_EVERY_SECONDS)

    async def _loop(self) -> None:
        last_checkpoint = last_sweep = time.monotonic()
        while True:
            busy = any(engine.running for engine in Engine.instances.values())
            await asyncio.sleep(STOP_POLL_SECONDS if busy else ALIVE_EVERY_SECONDS)
            now = time.monotonic()
            try:
                if busy and settings.REDIS_URL:  # without Redis there is one process: stops are local
                    for engine in list(Engine.instances.values()):
                        await engine._apply_remote_stops()
                if busy and now - last_checkpoint >= settings.STREAM_CHECKPOINT_SECONDS:
                    last_checkpoint = now
                    for engine in list(Engine.instances.values()):
                        if engine.running:
                            await engine._checkpoint_running()
                if now - last_sweep >= settings.STREAM_SWEEP_SECONDS:
                    last_sweep = now
                    await db_sync_to_async(sweep_all)()
            except Exception:
                logger.warning("stream maintenance failed", exc_info=True)

    async def aclose(self) -> None:
        for task in (self._task, self._alive_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._alive_task = None


maintenance = Maintenance()


def sweep_all() -> int:
    """Sweep every engine's orphaned generations (the Celery beat task and each web process)."""
    return sum(engine.sweep() for engine in engines())


async def startup() -> None:
    """ASGI startup: sweep what a previous process left, then keep sweeping in the background.

    Also chains a handler in front of the server's SIGTERM/SIGINT handlers, so that the
    generations of this process start ending the moment the server is asked to stop — while it
    still waits for open responses — instead of after it gave up on them.
    """
    engines()
    try:
        await db_sync_to_async(sweep_all)()
    except Exception:
        logger.warning("startup sweep failed", exc_info=True)
    maintenance.ensure_running()
    _drain_on_signals(asyncio.get_running_loop())


_draining: asyncio.Task[None] | None = None


def _begin_drain() -> None:
    global _draining
    if _draining is None:
        logger.warning("stopping: running generations get %ss to finish", settings.STREAM_SHUTDOWN_GRACE_SECONDS)
        _draining = asyncio.get_running_loop().create_task(shutdown(), name="stream-drain")


def _drain_on_signals(loop: asyncio.AbstractEventLoop) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # a server in a thread (tests) owns no signals
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous) or getattr(previous, "drains_streams", False):
            continue  # no server handler to chain (default or ignored), or already chained

        def handler(received: int, frame: Any, previous: Callable[[int, Any], Any] = previous) -> None:
            loop.call_soon_threadsafe(_begin_drain)
            previous(received, frame)

        handler.drains_streams = True  # type: ignore[attr-defined]
        signal.signal(signum, handler)


async def shutdown() -> None:
    """ASGI shutdown (and the first signal): let running generations finish, then interrupt them.

    New generations are refused (503 `shutting_down`) from now on. Generations still running
    after STREAM_SHUTDOWN_GRACE_SECONDS end `interrupted`; every one appends its terminal event,
    so every open stream ends with one before the server closes it.
    """
    global _draining
    all_engines = list(Engine.instances.values())
    for engine in all_engines:
        engine.draining = True
    tasks = [run.task for engine in all_engines for run in engine.running.values() if run.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=settings.STREAM_SHUTDOWN_GRACE_SECONDS)
    for engine in all_engines:
        await engine.interrupt_all()
    await logs.flush()
    await maintenance.aclose()
    with contextlib.suppress(Exception):
        await sync_to_async(workers.mark_gone, thread_sensitive=False)()
    for engine in all_engines:
        engine.draining = False  # a server started again in this process (tests) admits again
    _draining = None
