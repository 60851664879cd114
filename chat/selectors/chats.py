"""Reads for the chat REST API: owner-scoped lookups, lists, the active-branch page, search.

Every lookup filters by the requesting user, so another user's id is "not found" (404), never
"forbidden": the API does not reveal that an id exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F, FloatField, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from appauth.models import AppUser
from backend.errors import NotFound
from chat.errors import ErrorCode
from chat.models import Attachment, Chat, Message, MessagePair, Project, ProjectKnowledge, SavedSystemPrompt
from chat.selectors.tree import active_branch_ids

SEARCH_CONFIG = "english"
SNIPPET_CHARS = 160
HIGHLIGHT = "**"


# --- owner-scoped lookups -----------------------------------------------------------------


def chat_get(*, user: AppUser, chat_id: UUID) -> Chat:
    chat = Chat.objects.select_related("project").filter(user=user, id=chat_id).first()
    if chat is None:
        raise NotFound("Chat not found.", code=ErrorCode.CHAT_NOT_FOUND)
    return chat


def pair_get(*, user: AppUser, pair_id: UUID) -> MessagePair:
    pair = MessagePair.objects.select_related("chat").filter(chat__user=user, id=pair_id).first()
    if pair is None:
        raise NotFound("Message pair not found.", code=ErrorCode.PAIR_NOT_FOUND)
    return pair


def assistant_message_get(*, user: AppUser, message_id: UUID) -> Message:
    """One of the user's answers (what its stream and stop URLs name); NotFound otherwise."""
    message = Message.objects.filter(id=message_id, role=Message.Role.ASSISTANT, pair__chat__user=user).first()
    if message is None:
        raise NotFound("No such message.", code=ErrorCode.MESSAGE_NOT_FOUND)
    return message


def project_get(*, user: AppUser, project_id: UUID) -> Project:
    project = project_list(user=user).filter(id=project_id).first()
    if project is None:
        raise NotFound("Project not found.", code=ErrorCode.PROJECT_NOT_FOUND)
    return project


def knowledge_get(*, user: AppUser, knowledge_id: UUID) -> ProjectKnowledge:
    knowledge = ProjectKnowledge.objects.filter(project__user=user, id=knowledge_id).first()
    if knowledge is None:
        raise NotFound("Knowledge not found.", code=ErrorCode.KNOWLEDGE_NOT_FOUND)
    return knowledge


def saved_prompt_get(*, user: AppUser, prompt_id: UUID) -> SavedSystemPrompt:
    prompt = SavedSystemPrompt.objects.filter(user=user, id=prompt_id).first()
    if prompt is None:
        raise NotFound("Saved prompt not found.", code=ErrorCode.SAVED_PROMPT_NOT_FOUND)
    return prompt


# --- lists ---------------------------------------------------------------------------------


def chat_list(*, user: AppUser, archived: bool = False, project_id: UUID | None = None) -> QuerySet[Chat]:
    """The user's chats, newest activity first (the `chat_list` index serves this)."""
    queryset = Chat.objects.filter(user=user, archived=archived)
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return queryset.order_by("-updated_at", "-id")


def project_list(*, user: AppUser) -> QuerySet[Project]:
    """The user's projects with `knowledge_tokens`: the tokens of the knowledge sent with chats."""
    return Project.objects.filter(user=user).annotate(
        knowledge_tokens=Coalesce(
            Sum("knowledge__token_count", filter=Q(knowledge__include_in_chat=True)),
            Value(0),
            output_field=IntegerField(),
        )
    )


def knowledge_list(*, user: AppUser, project_id: UUID | None = None) -> QuerySet[ProjectKnowledge]:
    """Knowledge of the user's projects, without the (possibly large) content."""
    queryset = ProjectKnowledge.objects.filter(project__user=user).defer("content")
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    return queryset.order_by("created_at", "id")


def saved_prompt_list(*, user: AppUser) -> QuerySet[SavedSystemPrompt]:
    return SavedSystemPrompt.objects.filter(user=user).order_by("-updated_at", "-id")


# --- the active branch -----------------------------------------------------------------------


@dataclass(frozen=True)
class TurnView:
    """One turn of a branch page, with its place among its versions."""

    pair: MessagePair
    user_message: Message | None
    assistant_message: Message | None
    sibling_count: int
    sibling_index: int


@dataclass(frozen=True)
class BranchPage:
    turns: list[TurnView]
    start: int  # depth of the first turn on the page
    end: int  # depth after the last turn on the page
    total: int  # turns on the whole active branch
    limit: int  # the page size asked for

    @property
    def previous_before(self) -> int | None:
        """The `before` cursor of the page of older turns, or None on the first page."""
        return self.start if self.start > 0 else None

    @property
    def next_before(self) -> int | None:
        """The `before` cursor of the page of newer turns, or None on the newest page."""
        return None if self.end >= self.total else min(self.total, self.end + self.limit)


def _sibling_positions(*, chat: Chat, pairs: list[MessagePair]) -> dict[UUID, tuple[int, int]]:
    """pair id → (how many versions its turn has, its 0-based index among them, oldest first)."""
    parent_ids = {pair.parent_id for pair in pairs if pair.parent_id is not None}
    has_root = any(pair.parent_id is None for pair in pairs)
    condition = Q(parent_id__in=parent_ids)
    if has_root:
        condition |= Q(parent__isnull=True)
    groups: dict[UUID | None, list[tuple[datetime, str, UUID]]] = {}
    for pair_id, parent_id, created_at in MessagePair.objects.filter(condition, chat=chat).values_list(
        "id", "parent_id", "created_at"
    ):
        groups.setdefault(parent_id, []).append((created_at, str(pair_id), pair_id))
    positions: dict[UUID, tuple[int, int]] = {}
    for members in groups.values():
        members.sort()
        for index, (_, _, pair_id) in enumerate(members):
            positions[pair_id] = (len(members), index)
    return positions


def turns_render(*, chat: Chat, pair_ids: list[UUID]) -> list[TurnView]:
    """The given pairs (in that order) with their messages, attachments and sibling positions.

    Four queries whatever the number of pairs: pairs, messages, attachments, siblings.
    """
    if not pair_ids:
        return []
    pairs_by_id = {
        pair.id: pair
        for pair in MessagePair.objects.filter(id__in=pair_ids).prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.prefetch_related(
                    Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id"))
                ),
            )
        )
    }
    pairs = [pairs_by_id[pair_id] for pair_id in pair_ids if pair_id in pairs_by_id]
    positions = _sibling_positions(chat=chat, pairs=pairs)
    turns = []
    for pair in pairs:
        by_role = {message.role: message for message in pair.messages.all()}
        count, index = positions.get(pair.id, (1, 0))
        turns.append(
            TurnView(
                pair=pair,
                user_message=by_role.get(Message.Role.USER),
                assistant_message=by_role.get(Message.Role.ASSISTANT),
                sibling_count=count,
                sibling_index=index,
            )
        )
    return turns


def branch_page(*, chat: Chat, before: int | None = None, limit: int = 50) -> BranchPage:
    """Up to `limit` turns of the active branch ending just before depth `before` (default: the newest).

    Turns come oldest first; page backwards with `BranchPage.previous_before`.
    """
    branch = active_branch_ids(chat=chat)
    end = len(branch) if before is None else max(0, min(before, len(branch)))
    start = max(0, end - limit)
    return BranchPage(
        turns=turns_render(chat=chat, pair_ids=branch[start:end]),
        start=start,
        end=end,
        total=len(branch),
        limit=limit,
    )


@dataclass(frozen=True)
class SiblingView:
    pair: MessagePair
    index: int
    active: bool
    user_message: Message | None
    assistant_message: Message | None


def pair_siblings(*, pair: MessagePair) -> list[SiblingView]:
    """Every version of `pair`'s turn, oldest first, marking the one on the active branch."""
    versions = list(
        MessagePair.objects.filter(chat_id=pair.chat_id, parent_id=pair.parent_id)
        .prefetch_related("messages")
        .order_by("created_at", "id")
    )
    on_branch = set(active_branch_ids(chat=pair.chat))
    views = []
    for index, version in enumerate(versions):
        by_role = {message.role: message for message in version.messages.all()}
        views.append(
            SiblingView(
                pair=version,
                index=index,
                active=version.id in on_branch,
                user_message=by_role.get(Message.Role.USER),
                assistant_message=by_role.get(Message.Role.ASSISTANT),
            )
        )
    return views


# --- search --------------------------------------------------------------------------------------


def chat_search(*, user: AppUser, query: str) -> QuerySet[Chat]:
    """The user's chats whose title or any message matches `query`, best first, each with `snippet`.

    PostgreSQL: full-text search (websearch syntax, ranked, title weighted above messages).
    Other databases: case-insensitive substring match, newest first.
    """
    if connection.vendor == "postgresql":
        return _search_postgres(user=user, query=query)
    return _search_fallback(user=user, query=query)


def _search_postgres(*, user: AppUser, query: str) -> QuerySet[Chat]:
    search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    # The user's chats with a matching message, found through the GIN index on the message vector
    # (migration 0003); the ranked, correlated subqueries below then run for matching chats only.
    chats_with_matches = (
        Message.objects.annotate(document=SearchVector("text", config=SEARCH_CONFIG))
        .filter(document=search_query, pair__chat__user=user)
        .values("pair__chat_id")
    )
    matching_messages = (
        Message.objects.filter(pair__chat=OuterRef("pk"))
        .annotate(document=SearchVector("text", config=SEARCH_CONFIG))
        .filter(document=search_query)
        .annotate(rank=SearchRank(F("document"), search_query))
        .order_by("-rank", "created_at")
    )
    title_vector = SearchVector("title", config=SEARCH_CONFIG, weight="A")
    return (
        Chat.objects.filter(user=user)
        .annotate(title_document=title_vector)
        .filter(Q(title_document=search_query) | Q(id__in=chats_with_matches))
        .annotate(
            title_rank=SearchRank(title_vector, search_query),
            message_rank=Subquery(matching_messages.values("rank")[:1], output_field=FloatField()),
            matched_text=Subquery(matching_messages.values("text")[:1]),
        )
        .annotate(
            rank=F("title_rank") + Coalesce(F("message_rank"), Value(0.0)),
            snippet=SearchHeadline(
                Coalesce(F("matched_text"), F("title")),
                search_query,
                config=SEARCH_CONFIG,
                start_sel=HIGHLIGHT,
                stop_sel=HIGHLIGHT,
                max_words=30,
                min_words=10,
            ),
        )
        .order_by("-rank", "-updated_at", "-id")
    )


def _search_fallback(*, user: AppUser, query: str) -> QuerySet[Chat]:
    matching_messages = Message.objects.filter(pair__chat=OuterRef("pk"), text__icontains=query).order_by("created_at")
    return (
        Chat.objects.filter(user=user)
        .annotate(matched_text=Subquery(matching_messages.values("text")[:1]))
        .filter(Q(title__icontains=query) | Q(matched_text__isnull=False))
        .order_by("-updated_at", "-id")
    )


def search_snippet(*, text: str, query: str) -> str:
    """A window of `text` around the first occurrence of `query`, the match marked like PostgreSQL's."""
    match = re.search(re.escape(query), text, flags=re.IGNORECASE)
    if match is None:
        return text[:SNIPPET_CHARS]
    start = max(0, match.start() - SNIPPET_CHARS // 2)
    end = min(len(text), match.end() + SNIPPET_CHARS // 2)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    marked = f"{text[start : match.start()]}{HIGHLIGHT}{match.group(0)}{HIGHLIGHT}{text[match.end() : end]}"
    return f"{prefix}{marked}{suffix}"


def chat_search_snippet(*, chat: Chat, query: str) -> str:
    """The snippet of a `chat_search` result (computed by PostgreSQL, or here on other databases)."""
    snippet = getattr(chat, "snippet", None)
    if snippet is not None:
        return str(snippet)
    return search_snippet(text=getattr(chat, "matched_text", None) or chat.title, query=query)
