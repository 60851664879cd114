"""Accepting messages: new turns, edits and regenerations, each creating a pair in the tree.

Every accepted user message gets its assistant message in the same transaction (on PostgreSQL,
a plain new turn is one statement: `chat.services.turn_sql`), in status `streaming`: from that
moment the "nothing lost" invariant holds — the generation (or, if it dies, the sweeper) moves
that assistant message to exactly one terminal state. These run
inside the streaming engine's admission (`chat.services.generation.engine.admit`), which
handles Idempotency-Keys and the concurrency limit before them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction

from appauth.models import AppUser
from backend import errors, ratelimit
from backend.db import ahead_result, db_submit
from backend.llm.registry import get_registry
from backend.llm.tokens import estimate_text_tokens
from backend.streaming.engine import Engine, launch_before_write
from chat.errors import ErrorCode
from chat.models import Attachment, Chat, Message, MessagePair, Project
from chat.services import context, memory, turn_sql
from chat.services.attachments import attachments_claim
from chat.services.generation import admission_of

logger = logging.getLogger(__name__)

PREVIEW_CHARS = 200


@dataclass(frozen=True)
class Accepted:
    """A turn the server accepted: its chat, pair and both messages (the assistant one `streaming`)."""

    chat: Chat
    pair: MessagePair
    user_message: Message
    assistant_message: Message


def request_fingerprint(payload: dict[str, Any]) -> str:
    """A stable hash of a request body, to tell a true retry from a reused Idempotency-Key."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _rate_hit(user_id: Any) -> ratelimit.Decision:
    return ratelimit.hit("chat:message", str(user_id), settings.CHAT_MESSAGE_RATE)


# The message rate check started ahead in this context (`message_send_ahead`): (user id, the check).
_rate_ahead: contextvars.ContextVar[tuple[Any, Future[ratelimit.Decision]] | None] = contextvars.ContextVar(
    "message_rate_ahead", default=None
)


def _check_rate(*, user: AppUser) -> None:
    ahead = _rate_ahead.get()
    if ahead is not None and ahead[0] == user.pk:
        _rate_ahead.set(None)  # taken: the event counts, as a check made here does
        decision = ahead_result(ahead[1], lambda: _rate_hit(user.pk))
    else:
        decision = _rate_hit(user.pk)
    if not decision.allowed:
        raise errors.RateLimited("Too many messages. Wait a moment.", retry_after=decision.retry_after)


def _resolve_alias(model: str | None, chat: Chat) -> str:
    alias = model or chat.model or settings.LLM_DEFAULT_ALIAS
    resolved = get_registry().alias(alias)
    if model and not resolved.selectable:
        raise errors.ValidationFailed(f"Model {model!r} cannot be chosen.", code=errors.ErrorCode.UNKNOWN_MODEL)
    return resolved.name


def _new_pair(
    *,
    chat: Chat,
    parent: MessagePair | None,
    content: str,
    alias: str,
    attachment_ids: list[UUID],
    copy_attachments_from: Message | None = None,
) -> tuple[MessagePair, Message, Message]:
    pair = MessagePair.objects.create(chat=chat, parent=parent, depth=0 if parent is None else parent.depth + 1)
    user_message = Message(
        pair=pair, user_id=chat.user_id, role=Message.Role.USER, text=content, token_count=estimate_text_tokens(content)
    )
    assistant_message = Message(
        pair=pair, user_id=chat.user_id, role=Message.Role.ASSISTANT, model_alias=alias, **Engine.new_record_fields()
    )
    Message.objects.bulk_create([user_message, assistant_message])  # one INSERT for the turn's two messages
    if attachment_ids:
        attachments_claim(user=chat.user, attachment_ids=attachment_ids, message=user_message)
    elif copy_attachments_from is not None:
        Attachment.objects.bulk_create(
            Attachment(
                user=attachment.user,
                message=user_message,
                kind=attachment.kind,
                format=attachment.format,
                mime_type=attachment.mime_type,
                name=attachment.name,
                file=attachment.file.name,
                size_bytes=attachment.size_bytes,
                width=attachment.width,
                height=attachment.height,
                sha256=attachment.sha256,
            )
            for attachment in copy_attachments_from.attachments.all()
        )
    chat.active_leaf = pair
    chat.last_message_preview = content[:PREVIEW_CHARS]
    chat.save(update_fields=["active_leaf", "last_message_preview", "updated_at"])
    return pair, user_message, assistant_message


def _validate_content(content: str) -> str:
    if not content.strip():
        raise errors.ValidationFailed(
            "The message is empty.", code=ErrorCode.EMPTY_MESSAGE, details={"content": ["empty"]}
        )
    if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise errors.PayloadTooLarge(
            f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters.", code=ErrorCode.MESSAGE_TOO_LONG
        )
    return content


def message_send(
    *,
    user: AppUser,
    content: str,
    chat_id: UUID | None = None,
    project_id: UUID | None = None,
    parent_pair_id: UUID | None = None,
    model: str | None = None,
    attachment_ids: list[UUID] | None = None,
) -> Accepted:
    """Accept a user message: a new chat when `chat_id` is None, else a new turn in that chat.

    The turn follows `parent_pair_id` when given (it must belong to the chat), else the active
    leaf. Raises NotFound for foreign ids, RateLimited over the message rate.
    """
    content = _validate_content(content)
    _check_rate(user=user)
    if turn_sql.available(attachment_ids=attachment_ids):
        written = _send_in_one_statement(
            user=user,
            content=content,
            chat_id=chat_id,
            project_id=project_id,
            parent_pair_id=parent_pair_id,
            model=model,
        )
        if written is not None:
            return Accepted(*written)
    with transaction.atomic():
        if chat_id is None:
            project = _owned_project(user=user, project_id=project_id)
            chat = Chat.objects.create(user=user, project=project, model=model or "")
        else:
            found = Chat.objects.select_for_update().filter(id=chat_id, user=user).first()
            if found is None:
                raise errors.NotFound("No such chat.", code=ErrorCode.CHAT_NOT_FOUND)
            chat = found
        alias = _resolve_alias(model, chat)
        if parent_pair_id is not None:
            parent = MessagePair.objects.filter(id=parent_pair_id, chat=chat).first()
            if parent is None:
                raise errors.NotFound("No such message in this chat.", code=ErrorCode.PAIR_NOT_FOUND)
        else:
            parent = chat.active_leaf
        pair, user_message, assistant_message = _new_pair(
            chat=chat, parent=parent, content=content, alias=alias, attachment_ids=list(attachment_ids or [])
        )
    return Accepted(chat=chat, pair=pair, user_message=user_message, assistant_message=assistant_message)


@contextlib.contextmanager
def message_send_ahead(
    *,
    user: AppUser,
    chat_id: UUID | None,
    project_id: UUID | None,
    attachment_ids: list[UUID] | None,
    keyed: bool = False,
) -> Iterator[None]:
    """Around an admission that calls `message_send` (a database thread): its reads and checks that
    do not depend on the running-answers count are made beside it, not after it.

    - The message rate check (one Redis round trip) starts now on another database thread;
      `message_send` takes its result in this context. When the admission ends without it
      (refused by the count, the budget or a revoked token's guard), an event it counted is
      given back: a refused turn costs no rate, as when the check ran after those.
    - A turn written in one statement builds its answer's context on this thread, in this
      context, while the turn is written (`_answer_early`): its memories are read in the count's
      round trip (`memory.recall_ahead`). A follow-up's chat (with its leaf and project,
      `turn_sql.read_chat_ahead`) and the last turn of its history (`context.history_ahead`)
      are read there too; its memories are those of the chat's project, which their statement
      reads itself.

    `keyed`: the request has an `Idempotency-Key`. It may be a replay (nothing is sent) and its
    answer starts after admission, in another context: everything is checked and read in turn.
    """
    if keyed:
        yield
        return
    if turn_sql.available(attachment_ids=attachment_ids):
        if chat_id is None:
            memory.recall_ahead(user_id=user.pk, project_id=project_id)
        else:
            turn_sql.read_chat_ahead(chat_id=chat_id, user_id=user.pk)
            memory.recall_ahead(user_id=user.pk, chat_id=chat_id)
            context.history_ahead(chat_id=chat_id, user_id=user.pk)
    rate = db_submit(_rate_hit, user.pk)
    _rate_ahead.set((user.pk, rate))
    try:
        yield
    finally:
        if _rate_ahead.get() is not None:  # not taken
            _rate_ahead.set(None)
            _give_back(rate)


def _give_back(rate: Future[ratelimit.Decision]) -> None:
    if rate.cancel():
        return
    try:
        decision = rate.result()
    except Exception:  # the check failed: it counted nothing the caller could know of
        logger.warning("the message rate check made ahead failed", exc_info=True)
        return
    ratelimit.give_back(decision)


def _owned_project(*, user: AppUser, project_id: UUID | None) -> Project | None:
    if project_id is None:
        return None
    project = Project.objects.filter(id=project_id, user=user).first()
    if project is None:
        raise errors.NotFound("No such project.", code=ErrorCode.PROJECT_NOT_FOUND)
    return project


def _send_in_one_statement(
    *,
    user: AppUser,
    content: str,
    chat_id: UUID | None,
    project_id: UUID | None,
    parent_pair_id: UUID | None,
    model: str | None,
) -> turn_sql.Turn | None:
    """`message_send`'s rows written by `chat.services.turn_sql` (None: the ORM path writes them)."""
    if chat_id is None:
        project = _owned_project(user=user, project_id=project_id)
        alias = _resolve_alias(model, Chat(user=user, model=model or ""))
        return turn_sql.turn_write_new(
            user=user, project=project, content=content, model=model, alias=alias, before_write=_answer_early
        )
    return turn_sql.turn_write_follow_up(
        user=user,
        chat_id=chat_id,
        parent_pair_id=parent_pair_id,
        content=content,
        resolve_alias=lambda chat: _resolve_alias(model, chat),
        before_write=_answer_early,
    )


def _answer_early(chat: Chat, pair: MessagePair, user_message: Message, assistant_message: Message) -> None:
    """Start the answer while its turn is written (`backend.streaming.engine.launch_before_write`).

    Its context comes from rows already committed, so the model call is opened during the
    turn's statement instead of after it. Outside the engine's admission this does nothing.
    """
    accepted = Accepted(chat=chat, pair=pair, user_message=user_message, assistant_message=assistant_message)
    launch_before_write(admission_of(accepted))


def _owned_pair(*, user: AppUser, pair_id: UUID) -> MessagePair:
    pair = MessagePair.objects.select_related("chat").filter(id=pair_id, chat__user=user).first()
    if pair is None:
        raise errors.NotFound("No such message.", code=ErrorCode.PAIR_NOT_FOUND)
    return pair


def message_edit(*, user: AppUser, pair_id: UUID, content: str, model: str | None = None) -> Accepted:
    """Edit a user message: a sibling turn with the new text; the old branch is kept."""
    content = _validate_content(content)
    _check_rate(user=user)
    with transaction.atomic():
        pair = _owned_pair(user=user, pair_id=pair_id)
        chat = Chat.objects.select_for_update().get(id=pair.chat_id)
        alias = _resolve_alias(model, chat)
        new_pair, user_message, assistant_message = _new_pair(
            chat=chat, parent=pair.parent, content=content, alias=alias, attachment_ids=[]
        )
    return Accepted(chat=chat, pair=new_pair, user_message=user_message, assistant_message=assistant_message)


def message_regenerate(*, user: AppUser, pair_id: UUID, model: str | None = None) -> Accepted:
    """Answer a turn again: a sibling turn with the same user message and files; the old answer is kept."""
    _check_rate(user=user)
    with transaction.atomic():
        pair = _owned_pair(user=user, pair_id=pair_id)
        chat = Chat.objects.select_for_update().get(id=pair.chat_id)
        original = pair.messages.get(role=Message.Role.USER)
        alias = _resolve_alias(model, chat)
        new_pair, user_message, assistant_message = _new_pair(
            chat=chat,
            parent=pair.parent,
            content=original.text,
            alias=alias,
            attachment_ids=[],
            copy_attachments_from=original,
        )
    return Accepted(chat=chat, pair=new_pair, user_message=user_message, assistant_message=assistant_message)
