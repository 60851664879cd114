"""The retrieval quality gate: recall@5 >= 0.9 over a committed corpus, on the real offline embedder.

corpus.json holds ~330 chunks' worth of text (sections of the Python language reference and a
snapshot of this product's docs); questions.json names, for each question, the document and
a phrase of the chunk that answers it: a hit is a chunk of that document containing the phrase
(so the gate survives changes of chunk size). MRR and the recall of each ranking alone are
printed (`pytest -s`) to show what the fusion adds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import selectors, services
from retrieval.selectors import matrices_forget
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CORPUS = Path(__file__).parent / "corpus"
RECALL_AT_5_FLOOR = 0.9


def _metrics(user_id, questions, mode):
    found, reciprocal = 0, 0.0
    misses = []
    for question in questions:
        hits = selectors.chunk_search(collection="recall", owner_id=user_id, query=question["q"], k=5, mode=mode)
        rank = next(
            (i for i, hit in enumerate(hits, 1) if hit.ref == question["ref"] and question["contains"] in hit.text),
            None,
        )
        if rank is None:
            misses.append(question["q"])
        else:
            found += 1
            reciprocal += 1 / rank
    return found / len(questions), reciprocal / len(questions), misses


def test_hybrid_search_finds_the_answering_chunk_in_the_top_5_for_90_percent_of_questions():
    matrices_forget()
    user = UserFactory()
    corpus = json.loads((CORPUS / "corpus.json").read_text())
    questions = json.loads((CORPUS / "questions.json").read_text())
    assert len(questions) >= 40
    chunks = 0
    for document in corpus["documents"]:
        result = services.document_index(
            source="recall",
            ref=document["ref"],
            collection="recall",
            title=document["title"],
            content=document["text"],
            fmt=document["format"],
            owner_id=user.id,
        )
        chunks += result.chunks
    assert chunks >= 200

    results = {mode: _metrics(user.id, questions, mode) for mode in ("hybrid", "fulltext", "vector")}
    for mode, (recall, mrr, _) in results.items():
        print(f"{mode:9s} recall@5={recall:.3f} MRR={mrr:.3f} ({chunks} chunks, {len(questions)} questions)")
    recall, _, misses = results["hybrid"]
    assert recall >= RECALL_AT_5_FLOOR, f"missed: {misses}"
