"""Chat answers on the streaming engine (`backend.streaming`): the chat's adapter.

The engine owns the lifecycle (admission, the run, stop, checkpoints, the sweeper, shutdown,
replay); this module says what is chat-specific:

- the record is the assistant `Message` (its `text` is streamed into);
- a run assembles the context (unless admission already did, in the same database hop) and
  streams the answer: one model call, or — with tools on for the chat and its project — the
  tool loop of `tools.services.loop` (tool calls, confirmations, results, bounded);
- knowledge sent in retrieval mode is cited: a `citations` event before the terminal event,
  and the same list on the message, with the tool calls and the knowledge mode;
- finishing rolls the call's usage up into the chat's figures (also for stopped and failed
  answers: what was billed is shown) and, for a complete answer, schedules the title and the
  memory extraction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from backend.db import GuardFailed, SqlGuard, db_sync_to_async, fetchone_with_riders, quoted_column
from backend.llm import budget
from backend.llm.errors import LLMError
from backend.llm.types import Usage
from backend.llm.usage import UsageRecord
from backend.streaming.engine import Admission, Engine, Outcome, Run, failure_outcome
from backend.tasks import enqueue_batched_on_commit
from chat.models import Chat, Message
from chat.services import finish_sql, memory, titles
from chat.services.context import BuiltContext, context_build
from chat.services.usage import usage_add
from tools.registry import Tool, ToolContext, tools_all
from tools.services.execution import tool_allowed
from tools.services.loop import tool_loop

USAGE_PURPOSE = "chat"  # an answer's calls in the usage roll-up


@functools.cache
def _running_count_sql(guarded: bool) -> str:
    """The count `ChatAdapter.running` would compile, with the same conditions (the partial index's).

    The role and status are written into the statement: the partial index's predicate must be
    visible to the planner in the prepared statement's generic plan (as parameters, PostgreSQL
    kept planning it anew on every run, since only a custom plan could use that index).

    `guarded`: a second column says whether a `SqlGuard` holds (its text follows as `{guard}`).
    The user's budget override follows (`budget.limits_columns`): admission reads it here, not
    from the cache in a round trip of its own.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    user, role, status = (quoted_column(Message, name) for name in ("user", "role", "status"))
    assistant, streaming = Message.Role.ASSISTANT.value, Message.Status.STREAMING.value
    assert assistant.isalpha() and streaming.isalpha()  # constants of the model, safe as literals
    where = f"{user} = %(user)s AND {role} = '{assistant}' AND {status} = '{streaming}'"
    count = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608 - names and constants from the model
    limits = budget.limits_columns("%(user)s")
    return f"SELECT ({count}), ({{guard}}), {limits}" if guarded else f"SELECT ({count}), {limits}"


@dataclass
class Turn:
    """What a chat answer's run needs: the accepted messages and, when already built, the context."""

    assistant_message: Message
    user_message: Message
    pair: Any
    start_fields: dict[str, Any]
    user_id: Any
    built: BuiltContext | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # The tools offered and who calls them, when admission already decided (same database hop).
    tools: tuple[list[Tool], ToolContext | None] | None = None


def start_fields(*, chat_id: Any, pair_id: Any, user_message_id: Any, assistant_message_id: Any) -> dict[str, Any]:
    return {
        "chat_id": str(chat_id),
        "pair_id": str(pair_id),
        "user_message_id": str(user_message_id),
        "assistant_message_id": str(assistant_message_id),
    }


class ChatAdapter:
    scope = "chat"
    record_model = Message
    text_field = "text"
    atomic_accept = True  # every accepting service writes in one statement or its own transaction
    finished_related = ("pair__chat",)  # `finished` reads the chat: loaded with the message

    def max_concurrent(self) -> int:
        return int(settings.CHAT_MAX_CONCURRENT_GENERATIONS)

    def running(self, *, user: Any) -> QuerySet[Message]:
        # `user` is the chat's user copied onto the message: the partial index on (user) where
        # streaming answers this from the user's own rows, however many other users are streaming.
        return Message.objects.filter(user=user, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)

    def running_count(self, *, user: Any, guard: SqlGuard | None = None) -> tuple[int, budget.BudgetLimits]:
        """`running(user=user).count()` as one fixed statement (admission runs it for every turn),
        and the user's budget limits read by the same statement.

        With `guard`, the same statement checks it: raises GuardFailed when it does not hold.
        """
        user_id = Message._meta.get_field("user").get_db_prep_value(user.pk, connection)  # SQLite: the hex text
        params: dict[str, Any] = {"user": user_id}
        sql = _running_count_sql(guard is not None)
        if guard is not None:
            sql = sql.replace("{guard}", guard.sql)
            params.update(guard.params)
        row = fetchone_with_riders(sql, params)  # with what the turn reads ahead (`message_send_ahead`)
        assert row is not None  # a SELECT without FROM always has its row
        if guard is not None:
            if not row[1]:
                raise GuardFailed
            row = (row[0], *row[2:])
        count, *limits = row
        return int(count), budget.limits_from_columns(*limits)

    def prepare(self, admission: Admission) -> None:
        """Assemble the context and choose the tools in the same database hop as accepting the turn.

        The tools come from the chat the turn was written with, so the run starts the model
        call without reading the chat again on another hop.
        """
        turn: Turn = admission.payload
        turn.built = context_build(
            assistant_message=turn.assistant_message,
            pair=turn.pair,
            user_message=turn.user_message,
            mark_memories=False,  # marked with the answer's terminal write (`run`)
            share_history_later=True,  # written to the shared cache with it too
        )
        turn.tools = tools_for(chat=turn.pair.chat, assistant_message_id=turn.assistant_message.id)

    def start_data(self, record: Message) -> dict[str, Any]:
        pair = record.pair
        user_message_id = Message.objects.filter(pair=pair, role=Message.Role.USER).values_list("id", flat=True).first()
        return {
            **start_fields(
                chat_id=pair.chat_id, pair_id=pair.id, user_message_id=user_message_id, assistant_message_id=record.id
            ),
            "omitted_pair_ids": list(record.context_omitted or []),
        }

    def terminal_data(self, record: Message) -> dict[str, Any]:
        return {}

    async def run(self, run: Run) -> Outcome:
        turn: Turn = run.payload
        built = turn.built
        if built is None:
            built = await _abuild(assistant_message=turn.assistant_message)
        run.start_fields["omitted_pair_ids"] = [str(pair_id) for pair_id in built.omitted_pair_ids]
        turn.built = built
        if built.memory_ids:  # the memories it uses are counted once the answer has ended
            run.terminal_writes.append(functools.partial(memory.memories_mark_referenced, memory_ids=built.memory_ids))
        run.terminal_writes.extend(built.history_shares)  # the history entry, for the other processes
        tools, context = turn.tools or await _atool_setup(assistant_message_id=turn.assistant_message.id)
        if tools and context is not None:
            result = await tool_loop(
                run=run, request=built.request, context=context, tools=tools, calls=turn.tool_calls
            )
            stop_reason = result.stop_reason
        else:
            stop_reason = (await run.stream(built.request)).stop_reason.value
        citations = citations_of(built)
        if citations:
            run.emit("citations", {"citations": citations})
        return Outcome(status=Message.Status.COMPLETE, stop_reason=stop_reason, fields=_answer_fields(turn))

    def failed(self, run: Run, error: LLMError) -> Outcome:
        outcome = failure_outcome(error)
        outcome.fields = _answer_fields(run.payload)
        return outcome

    def finish_in_one_statement(
        self, *, record_id: UUID, values: dict[str, Any], outcome: Outcome, ledger: list[UsageRecord]
    ) -> bool | None:
        """PostgreSQL: `finished`'s writes, the held usage rows and the terminal state in one
        statement (`chat.services.finish_sql`)."""
        if not finish_sql.available():
            return None
        written = finish_sql.finish_write(record_id=record_id, values=values, purpose=USAGE_PURPOSE, ledger=ledger)
        if written is None:
            return False
        if outcome.status == Message.Status.COMPLETE:
            self._schedule_follow_ups(chat=written.chat, message_id=record_id, memory_on=written.memory_enabled)
        return True

    def finished(self, *, record: Message, outcome: Outcome) -> None:
        chat = record.pair.chat
        Chat.objects.filter(id=chat.id).update(updated_at=timezone.now())
        if record.model_id:  # a model was called: what it billed counts, whatever the outcome
            usage = Usage(
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                cache_read_tokens=record.cache_read_tokens,
                cache_write_tokens=record.cache_write_tokens,
            )
            usage_add(chat=chat, purpose=USAGE_PURPOSE, model_id=record.model_id, usage=usage, cost=record.cost)
        if outcome.status == Message.Status.COMPLETE:
            self._schedule_follow_ups(chat=chat, message_id=record.id)

    @staticmethod
    def _schedule_follow_ups(*, chat: Chat, message_id: UUID, memory_on: bool = True) -> None:
        """The background follow-ups of a complete answer, enqueued on commit.

        `memory_on=False` (the user's switch, when known) enqueues no extraction; the task checks it too.
        An answer in a chat without a title yet (usually its first) wants both a title and an
        extraction. They are handed to the process's publisher (`enqueue_batched_on_commit`):
        one message for both, and one for the follow-ups of many answers when many end at once.
        """
        calls: list[tuple[str, tuple[Any, ...]]] = []
        if titles.title_wanted(chat=chat):
            calls.append(("chat.tasks.generate_chat_title", (str(chat.id),)))
        if memory_on and memory.memory_wanted(chat=chat):
            calls.append(("chat.tasks.extract_turn_memories", (str(message_id),)))
        if calls:
            enqueue_batched_on_commit(calls, queue=settings.CHAT_BACKGROUND_QUEUE)


def _build(*, assistant_message: Message) -> BuiltContext:
    return context_build(assistant_message=assistant_message, mark_memories=False)


def citations_of(built: BuiltContext) -> list[dict[str, Any]]:
    """The excerpts sent in retrieval mode, as the client shows them (the `citations` event)."""
    return [
        {
            "index": excerpt["index"],
            "chunk_id": excerpt["chunk_id"],
            "knowledge_id": excerpt["knowledge_id"],
            "title": excerpt["title"],
            "section": excerpt["heading"],
            "text": excerpt["text"],
            "score": excerpt["score"],
        }
        for excerpt in built.citations
    ]


def _answer_fields(turn: Turn) -> dict[str, Any]:
    built = turn.built
    return {
        "knowledge_mode": built.knowledge_mode if built else Message.KnowledgeMode.NONE,
        "citations": citations_of(built) if built else [],
        "tool_calls": turn.tool_calls,
    }


def _tool_setup(*, assistant_message_id: UUID) -> tuple[list[Tool], ToolContext | None]:
    """`tools_for` the chat of this answer, read from the database (a run that admission did not prepare)."""
    if not settings.TOOLS_ENABLED:
        return [], None
    chat = Chat.objects.select_related("project", "user").get(pairs__messages__id=assistant_message_id)
    return tools_for(chat=chat, assistant_message_id=assistant_message_id)


def tools_for(*, chat: Chat, assistant_message_id: UUID) -> tuple[list[Tool], ToolContext | None]:
    """The tools offered for this answer in `chat` (none when switched off) and who calls them."""
    if not settings.TOOLS_ENABLED:
        return [], None
    if not chat.tools_enabled or (chat.project is not None and not chat.project.tools_enabled):
        return [], None
    tools = [tool for tool in tools_all() if tool_allowed(user=chat.user, tool=tool)]
    context = ToolContext(
        user=chat.user, chat_id=chat.id, project_id=chat.project_id, reference=f"chat.message:{assistant_message_id}"
    )
    return tools, context


_atool_setup = db_sync_to_async(_tool_setup)


def admission_of(accepted: Any) -> Admission:
    """The engine's admission for an accepted turn (`chat.services.messages.Accepted`)."""
    assistant_message = accepted.assistant_message
    turn = Turn(
        assistant_message=assistant_message,
        user_message=accepted.user_message,
        pair=accepted.pair,
        user_id=accepted.chat.user_id,
        start_fields=start_fields(
            chat_id=accepted.chat.id,
            pair_id=accepted.pair.id,
            user_message_id=accepted.user_message.id,
            assistant_message_id=assistant_message.id,
        ),
    )
    return Admission(record_id=assistant_message.id, payload=turn)


_abuild = db_sync_to_async(_build)

engine = Engine(ChatAdapter())


def generation_finish(*, message_id: UUID, status: str, text: str, **fields: Any) -> bool:
    """Write an assistant message's terminal state directly (services and tests without a model).

    True when written, False when the message was already terminal.
    """
    outcome = Outcome(status=status, stop_reason=fields.pop("stop_reason", ""))
    return engine.finish(record_id=message_id, outcome=outcome, text=text, **fields) is None
