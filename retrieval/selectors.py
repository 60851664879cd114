"""Search: full text and exact cosine over a collection's vectors, fused by reciprocal rank.

Every search is scoped to one collection and one owner (None: the public site corpus), so a
user's search never reaches another user's chunks. The vector side keeps each collection's
matrix in process memory and reloads it when the collection's version (in the shared cache,
changed by every index or delete) moves, so a search costs one cache read, one matrix product
and one query for the winning chunks' text.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from backend.embeddings import get_embedder
from retrieval.models import SITE_COLLECTION, Chunk

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "fulltext", "vector"]
_WORDS = re.compile(r"\w+", re.UNICODE)


def collection_version_key(collection: str) -> str:
    """The cache key of a collection's version: it changes whenever the collection's vectors do."""
    return f"retrieval:version:{collection}"


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    source: str
    ref: str
    title: str
    heading: str
    anchor: str
    url: str
    text: str
    score: float

    @property
    def link(self) -> str:
        """Where to read it: the document's URL and the section's anchor (site docs)."""
        return f"{self.url}#{self.anchor}" if self.url and self.anchor else self.url


def chunk_search(*, collection: str, owner_id: Any, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
    """The `k` best chunks of the owner's collection for `query`, best first."""
    query = query.strip()
    if not query or k <= 0:
        return []
    depth = max(int(settings.RETRIEVAL_CANDIDATES), k)
    rankings: list[list[int]] = []
    if mode in ("hybrid", "fulltext"):
        rankings.append(fulltext_ranking(collection=collection, owner_id=owner_id, query=query, limit=depth))
    if mode in ("hybrid", "vector"):
        try:
            rankings.append(vector_ranking(collection=collection, owner_id=owner_id, query=query, limit=depth))
        except Exception:
            if mode == "vector":
                raise
            # A hosted embedder that fails (throttled, unreachable) must not fail the answer: words still find.
            logger.warning("vector search failed; full text only", exc_info=True)
    fused = reciprocal_rank_fusion(rankings, k=int(settings.RETRIEVAL_RRF_K))[:k]
    return _hits(fused)


def site_docs_search(query: str, k: int = 5) -> list[Hit]:
    """The site corpus (`manage.py index_docs`): for the help page and widget; hits carry `url#anchor`."""
    return chunk_search(collection=SITE_COLLECTION, owner_id=None, query=query, k=k)


def reciprocal_rank_fusion(rankings: list[list[int]], *, k: int = 60) -> list[tuple[int, float]]:
    """Σ 1/(k + rank) over the rankings an id appears in (rank from 1), best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _hits(fused: list[tuple[int, float]]) -> list[Hit]:
    if not fused:
        return []
    rows = {
        row["id"]: row
        for row in Chunk.objects.filter(id__in=[chunk_id for chunk_id, _ in fused]).values(
            "id",
            "document_id",
            "document__source",
            "document__ref",
            "document__title",
            "document__url",
            "heading",
            "anchor",
            "text",
        )
    }
    return [
        Hit(
            chunk_id=chunk_id,
            document_id=row["document_id"],
            source=row["document__source"],
            ref=row["document__ref"],
            title=row["document__title"],
            heading=row["heading"],
            anchor=row["anchor"],
            url=row["document__url"],
            text=row["text"],
            score=round(score, 6),
        )
        for chunk_id, score in fused
        if (row := rows.get(chunk_id)) is not None
    ]


# --- Full text ------------------------------------------------------------------------------------


def fulltext_ranking(*, collection: str, owner_id: Any, query: str, limit: int) -> list[int]:
    """Chunk ids matching any word of `query`, best first (PostgreSQL ts_rank_cd, SQLite bm25)."""
    words = _WORDS.findall(query.lower())[:32]
    if not words:
        return []
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            # Any word may match (OR): a question shares only some of its words with the answer.
            cursor.execute(
                """
                SELECT c.id FROM retrieval_chunk c
                JOIN retrieval_document d ON d.id = c.document_id,
                     to_tsquery('english', %s) q
                WHERE d.collection = %s AND d.owner_id IS NOT DISTINCT FROM %s AND c.search_vector @@ q
                ORDER BY ts_rank_cd(c.search_vector, q, 32) DESC, c.id
                LIMIT %s
                """,
                [" | ".join(words), collection, owner_id, limit],
            )
        elif vendor == "sqlite":
            owner_clause = "d.owner_id IS NULL" if owner_id is None else "d.owner_id = %s"
            cursor.execute(
                f"""
                SELECT c.id FROM retrieval_chunk_fts f
                JOIN retrieval_chunk c ON c.id = f.rowid
                JOIN retrieval_document d ON d.id = c.document_id
                WHERE retrieval_chunk_fts MATCH %s AND d.collection = %s AND {owner_clause}
                ORDER BY bm25(retrieval_chunk_fts), c.id
                LIMIT %s
                """,  # noqa: S608 - the clause is one of two constants; values are parameters
                [
                    " OR ".join(f'"{word}"' for word in words),
                    collection,
                    *([] if owner_id is None else [owner_id]),
                    limit,
                ],
            )
        else:
            return []
        return [row[0] for row in cursor.fetchall()]


# --- Vectors --------------------------------------------------------------------------------------


@dataclass
class _Matrix:
    version: str
    ids: np.ndarray
    vectors: np.ndarray


_matrices: OrderedDict[tuple[str, str, str], _Matrix] = OrderedDict()
_matrices_lock = threading.Lock()


def vector_ranking(*, collection: str, owner_id: Any, query: str, limit: int) -> list[int]:
    """Chunk ids by exact cosine similarity to the query's embedding, best first."""
    embedder = get_embedder()
    matrix = _matrix(collection=collection, owner_id=owner_id, model_id=embedder.model_id)
    if not len(matrix.ids):
        return []
    query_vector = embedder.embed([query])[0]
    scores = matrix.vectors @ query_vector
    top = min(limit, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [int(matrix.ids[i]) for i in best]


def _version(collection: str) -> str:
    key = collection_version_key(collection)
    version = cache.get(key)
    if version is None:  # never set, or the cache was cleared: start a new version everywhere
        cache.add(key, uuid.uuid4().hex, None)
        version = cache.get(key) or ""
    return str(version)


def _matrix(*, collection: str, owner_id: Any, model_id: str) -> _Matrix:
    key = (collection, str(owner_id), model_id)
    version = _version(collection)
    with _matrices_lock:
        cached = _matrices.get(key)
        if cached is not None and cached.version == version:
            _matrices.move_to_end(key)
            return cached
    rows = Chunk.objects.filter(
        document__collection=collection, document__owner_id=owner_id, document__embedding_model=model_id
    ).values_list("id", "embedding")
    ids: list[int] = []
    blobs: list[bytes] = []
    for chunk_id, blob in rows.iterator(chunk_size=2000):
        ids.append(chunk_id)
        blobs.append(bytes(blob))
    dimensions = get_embedder().dimensions
    vectors = (
        np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimensions)
        if ids
        else np.zeros((0, dimensions), dtype=np.float32)
    )
    matrix = _Matrix(version=version, ids=np.asarray(ids, dtype=np.int64), vectors=vectors)
    with _matrices_lock:
        _matrices[key] = matrix
        _matrices.move_to_end(key)
        while len(_matrices) > int(settings.RETRIEVAL_CACHED_COLLECTIONS):
            _matrices.popitem(last=False)
    return matrix


def matrices_forget() -> None:
    """Drop every cached matrix of this process (tests, benchmarks)."""
    with _matrices_lock:
        _matrices.clear()
