"""Project knowledge in the retrieval index: each item is a document of its project's collection.

The retrieval app knows nothing of projects: chat hands it each knowledge item's text under
`(chat.knowledge, <id>)` in the collection `project:<project id>`, owned by the project's
user, and deletes it with the item (or the whole collection with the project) in the same
transaction, so a deleted item never leaves chunks behind. Indexing itself (tokenizing and
embedding) runs in a Celery task after the write commits.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings

from backend.tasks import enqueue_on_commit
from chat.models import ProjectKnowledge
from retrieval import services as retrieval

KNOWLEDGE_SOURCE = "chat.knowledge"


def project_collection(project_id: Any) -> str:
    return f"project:{project_id}"


def knowledge_index(*, knowledge_id: UUID) -> retrieval.IndexResult | None:
    """Index an item as it is now (a no-op when unchanged); None when it was deleted meanwhile."""
    knowledge = ProjectKnowledge.objects.select_related("project").filter(id=knowledge_id).first()
    if knowledge is None:
        retrieval.document_delete(source=KNOWLEDGE_SOURCE, ref=str(knowledge_id))
        return None
    return retrieval.document_index(
        source=KNOWLEDGE_SOURCE,
        ref=str(knowledge.id),
        collection=project_collection(knowledge.project_id),
        title=knowledge.title,
        content=knowledge.content,
        fmt="md",
        owner_id=knowledge.project.user_id,
    )


def knowledge_index_schedule(*, knowledge_id: UUID) -> None:
    """Index the item once the current transaction commits (enqueue failures are logged)."""
    enqueue_on_commit("chat.tasks.index_knowledge", args=(str(knowledge_id),), queue=settings.RETRIEVAL_QUEUE)


def knowledge_unindex(*, knowledge_id: UUID) -> None:
    retrieval.document_delete(source=KNOWLEDGE_SOURCE, ref=str(knowledge_id))


def project_unindex(*, project_id: UUID) -> None:
    retrieval.collection_delete(collection=project_collection(project_id), source=KNOWLEDGE_SOURCE)
