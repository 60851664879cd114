"""Indexing (incremental, idempotent, complete deletion) and hybrid search scoped to an owner's collection."""

from __future__ import annotations

import pytest
from django.db import connection

from retrieval import selectors, services
from retrieval.models import Chunk, Document
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hashing_embedder")]

GUIDE = "# Tides\nThe moon pulls the oceans.\n\n# Baking\nBread needs flour, water and yeast.\n"


def _index(user, ref="k1", content=GUIDE, collection="project:a", **extra):
    return services.document_index(
        source="test",
        ref=ref,
        collection=collection,
        title="Guide",
        content=content,
        fmt="md",
        owner_id=user.id,
        **extra,
    )


def test_a_document_is_chunked_embedded_and_found_by_both_rankings():
    user = UserFactory()
    result = _index(user)
    assert (result.chunks, result.embedded, result.skipped) == (2, 2, False)
    hits = selectors.chunk_search(collection="project:a", owner_id=user.id, query="what does bread need?", k=5)
    assert hits[0].heading == "Baking" and "yeast" in hits[0].text
    assert hits[0].score > hits[-1].score
    full_text = selectors.fulltext_ranking(collection="project:a", owner_id=user.id, query="yeast", limit=5)
    assert full_text == [hits[0].chunk_id]


def test_reindexing_unchanged_text_does_nothing_and_changed_text_reembeds_only_what_changed():
    user = UserFactory()
    first = _index(user)
    assert _index(user).skipped
    changed = _index(user, content=GUIDE.replace("yeast", "sourdough"))
    assert (changed.skipped, changed.chunks, changed.embedded) == (False, 2, 1)  # the tides chunk kept its vector
    assert changed.document_id == first.document_id
    assert Chunk.objects.filter(document_id=first.document_id, text__contains="sourdough").count() == 1


def test_a_deleted_document_leaves_no_chunks_and_is_not_found():
    user = UserFactory()
    _index(user)
    assert services.document_delete(source="test", ref="k1") == 1
    assert not Chunk.objects.exists() and not Document.objects.exists()
    assert selectors.chunk_search(collection="project:a", owner_id=user.id, query="bread yeast") == []


def test_search_never_crosses_owners_or_collections():
    owner, other = UserFactory(), UserFactory()
    _index(owner)
    _index(other, ref="k2", content="# Secret\nOther people's yeast recipe.\n")
    _index(owner, ref="k3", collection="project:b", content="# Elsewhere\nyeast in another project\n")
    hits = selectors.chunk_search(collection="project:a", owner_id=owner.id, query="yeast recipe", k=10)
    assert {hit.ref for hit in hits} == {"k1"}
    assert selectors.chunk_search(collection="project:a", owner_id=None, query="yeast", k=10) == []


def test_the_vector_matrix_cache_follows_reindexing_in_another_process():
    user = UserFactory()
    _index(user)
    assert selectors.chunk_search(collection="project:a", owner_id=user.id, query="volcano", k=5, mode="vector")
    # Another process re-indexes: only the shared version moves; this process must reload.
    _index(user, content="# Volcano\nLava and ash.\n")
    hits = selectors.chunk_search(collection="project:a", owner_id=user.id, query="volcano lava", k=5, mode="vector")
    assert [hit.heading for hit in hits] == ["Volcano"]


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = selectors.reciprocal_rank_fusion([[1, 2, 3], [2, 9, 3]], k=60)
    assert [chunk_id for chunk_id, _ in fused] == [2, 3, 1, 9]  # found by both beats first in one
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_an_empty_query_finds_nothing():
    user = UserFactory()
    _index(user)
    assert selectors.chunk_search(collection="project:a", owner_id=user.id, query="   ") == []
    assert selectors.chunk_search(collection="project:a", owner_id=user.id, query="?!", mode="fulltext") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index exists on PostgreSQL")
def test_full_text_uses_the_generated_tsvector_and_its_gin_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'retrieval_chunk_search'")
        assert "gin (search_vector)" in cursor.fetchone()[0]


def test_hybrid_search_falls_back_to_full_text_when_the_embedder_fails(monkeypatch):
    user = UserFactory()
    _index(user)

    def broken(**kwargs):
        raise ConnectionError("embedding service unreachable")

    monkeypatch.setattr(selectors, "vector_ranking", broken)

    hits = selectors.chunk_search(collection="project:a", owner_id=user.id, query="yeast", k=5)
    assert [hit.heading for hit in hits] == ["Baking"]
    with pytest.raises(ConnectionError):
        selectors.chunk_search(collection="project:a", owner_id=user.id, query="yeast", k=5, mode="vector")
