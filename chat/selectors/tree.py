"""The conversation tree: active branch, siblings, and the leaf a branch switch lands on.

A chat's pairs form a tree through `MessagePair.parent`. The active branch is the path from
`Chat.active_leaf` up to the root. It is computed from one narrow query (ids and parent ids of
the chat's pairs), which stays cheap for very long chats and never walks the tree query by query.
"""

from __future__ import annotations

from uuid import UUID

from chat.models import Chat, MessagePair


def _parents(chat_id: UUID) -> dict[UUID, UUID | None]:
    return dict(MessagePair.objects.filter(chat_id=chat_id).values_list("id", "parent_id"))


def active_branch_ids(*, chat: Chat) -> list[UUID]:
    """Pair ids of the active branch, root first. Empty for a chat without messages."""
    if chat.active_leaf_id is None:
        return []
    parents = _parents(chat.id)
    path: list[UUID] = []
    current: UUID | None = chat.active_leaf_id
    while current is not None and current in parents:
        path.append(current)
        current = parents[current]
    path.reverse()
    return path


def deepest_leaf(*, pair: MessagePair) -> MessagePair:
    """The newest leaf below `pair` (following the newest child at each step): where a switch lands."""
    children: dict[UUID | None, list[tuple[object, UUID]]] = {}
    for pair_id, parent_id, created_at in MessagePair.objects.filter(chat_id=pair.chat_id).values_list(
        "id", "parent_id", "created_at"
    ):
        children.setdefault(parent_id, []).append((created_at, pair_id))
    current = pair.id
    while children.get(current):
        current = max(children[current], key=lambda item: (item[0], str(item[1])))[1]
    return MessagePair.objects.get(id=current) if current != pair.id else pair


def siblings(*, pair: MessagePair) -> list[MessagePair]:
    """Every version of this turn (pairs sharing its parent), oldest first, itself included."""
    queryset = MessagePair.objects.filter(chat_id=pair.chat_id, parent_id=pair.parent_id)
    return list(queryset.order_by("created_at", "id"))
