"""Indexing: documents chunked, embedded and stored; re-indexing incremental; deletion complete.

`document_index` is idempotent: a document whose text, title, format, chunking and embedding
model are unchanged (same content hash) is left alone, and inside a changed document every
chunk whose text is unchanged keeps its vector instead of being embedded again. The slow work
(tokenizing, embedding) runs outside the transaction; the swap of a document's chunks is one
transaction under a row lock, so a search never sees half a document.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from backend.embeddings import get_embedder, to_bytes
from retrieval.chunking import Draft, chunk_text
from retrieval.models import Chunk, Document
from retrieval.selectors import collection_version_key

logger = logging.getLogger(__name__)


def collection_touch(*, collection: str) -> None:
    """Tell every process that the collection's vectors changed (their cached matrices reload)."""
    cache.set(collection_version_key(collection), uuid.uuid4().hex, None)


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", errors="replace"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class IndexResult:
    document_id: int
    chunks: int
    embedded: int  # chunks whose vector was computed now (the rest were reused)
    skipped: bool  # unchanged: nothing was done


def document_index(
    *,
    source: str,
    ref: str,
    collection: str,
    title: str,
    content: str,
    fmt: str = "text",
    owner_id: Any = None,
    url: str = "",
) -> IndexResult:
    """Index (or re-index) one document under `(source, ref)`; see the module docstring."""
    embedder = get_embedder()
    size, overlap = int(settings.RETRIEVAL_CHUNK_TOKENS), int(settings.RETRIEVAL_CHUNK_OVERLAP_TOKENS)
    content_hash = _sha256(title, fmt, content, str(size), str(overlap), embedder.model_id)
    existing = Document.objects.filter(source=source, ref=ref).first()
    if existing is not None and _unchanged(existing, content_hash, collection, owner_id, url):
        return IndexResult(existing.id, existing.chunks.count(), 0, skipped=True)

    drafts = chunk_text(content, fmt=fmt, token_spans=embedder.token_spans, size=size, overlap=overlap, name=title)
    reusable: dict[str, bytes] = {}
    if existing is not None and existing.embedding_model == embedder.model_id:
        reusable = {
            text_hash: bytes(vector) for text_hash, vector in existing.chunks.values_list("text_hash", "embedding")
        }
    hashes = [_sha256(draft.embedding_text) for draft in drafts]
    missing = [i for i, text_hash in enumerate(hashes) if text_hash not in reusable]
    vectors = embedder.embed([drafts[i].embedding_text for i in missing])
    computed = {hashes[i]: to_bytes(vectors[n]) for n, i in enumerate(missing)}

    fields = {
        "collection": collection,
        "owner_id": owner_id,
        "title": title[:300],
        "url": url[:500],
        "format": fmt,
        "content_hash": content_hash,
        "embedding_model": embedder.model_id,
    }
    for attempt in range(2):
        try:
            document = _swap_chunks(
                source=source, ref=ref, fields=fields, drafts=drafts, hashes=hashes, vectors={**reusable, **computed}
            )
            break
        except IntegrityError:  # a concurrent first index of the same document won: replace its chunks
            if attempt:
                raise
    collection_touch(collection=collection)
    if existing is not None and existing.collection != collection:
        collection_touch(collection=existing.collection)
    return IndexResult(document.id, len(drafts), len(missing), skipped=False)


def _unchanged(document: Document, content_hash: str, collection: str, owner_id: Any, url: str) -> bool:
    return (
        document.content_hash == content_hash
        and document.collection == collection
        and str(document.owner_id) == str(owner_id)
        and document.url == url[:500]
    )


@transaction.atomic
def _swap_chunks(
    *, source: str, ref: str, fields: dict[str, Any], drafts: list[Draft], hashes: list[str], vectors: dict[str, bytes]
) -> Document:
    document = Document.objects.select_for_update().filter(source=source, ref=ref).first()
    if document is None:
        with transaction.atomic():
            document = Document.objects.create(source=source, ref=ref, **fields)
    else:
        for name, value in fields.items():
            setattr(document, name, value)
        document.save()
        document.chunks.all().delete()
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            ordinal=ordinal,
            heading=draft.heading[:500],
            anchor=draft.anchor[:200],
            text=draft.text,
            text_hash=text_hash,
            token_count=draft.token_count,
            embedding=vectors[text_hash],
        )
        for ordinal, (draft, text_hash) in enumerate(zip(drafts, hashes, strict=True))
    )
    return document


def document_delete(*, source: str, ref: str) -> int:
    """Delete a document and its chunks; the number of documents deleted (0 or 1)."""
    collections = list(Document.objects.filter(source=source, ref=ref).values_list("collection", flat=True))
    deleted = _delete(Document.objects.filter(source=source, ref=ref))
    for collection in collections:
        collection_touch(collection=collection)
    return deleted


def collection_delete(*, collection: str, source: str | None = None, keep_refs: set[str] | None = None) -> int:
    """Delete a collection's documents (of one `source`, except `keep_refs`, when given)."""
    documents = Document.objects.filter(collection=collection)
    if source is not None:
        documents = documents.filter(source=source)
    if keep_refs:
        documents = documents.exclude(ref__in=keep_refs)
    deleted = _delete(documents)
    if deleted:
        collection_touch(collection=collection)
    return deleted


def _delete(documents: Any) -> int:
    with transaction.atomic():
        ids = list(documents.values_list("id", flat=True))
        Chunk.objects.filter(document_id__in=ids).delete()
        Document.objects.filter(id__in=ids).delete()
    return len(ids)
