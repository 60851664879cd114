"""Retrieval benchmarks: indexing throughput and search latency at 10k and 100k chunks.

    python bench/retrieval.py [--sizes 10000 100000] [--queries 200] [--index-chunks 300] [--write docs/benchmarks.md]

1. Indexing: the recall corpus (tests/retrieval/corpus) indexed from scratch with the offline
   embedder — chunking, embedding and storing, in chunks per second — and the embedder alone.
2. Search: collections of N chunks (texts of the corpus, vectors of the corpus embedded once
   and jittered, so that the full-text index and the vector matrix have their real sizes —
   embedding 100k chunks with the model would take hours on a small machine), then the
   recall questions asked over and over: hybrid (query embedding + full text + cosine + fusion)
   against full text only, p50/p99 in milliseconds, warm (the collection's matrix in memory);
   the cold load of the matrix is reported separately.

Needs PostgreSQL (database `aia_bench_retrieval` is dropped and created) and Redis
(BENCH_REDIS_URL, default db 12) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, machine_line, prepare_database, summary, write_section

DB_NAME = "aia_bench_retrieval"
CORPUS = REPO / "tests" / "retrieval" / "corpus"
ENV = {
    "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdef",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
    "LOG_LEVEL": "WARNING",
    "BEHIND_TLS_PROXY": "0",
    "HF_HUB_OFFLINE": "1",
}


def setup_django() -> None:
    os.environ.update(ENV)
    import django

    django.setup()


def bench_indexing(*, index_chunks: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from backend.embeddings import get_embedder
    from retrieval import services
    from retrieval.chunking import chunk_text

    embedder = get_embedder()
    embedder.embed(["warm up"])
    user = get_user_model().objects.create_user("bench-indexing@example.com", None)
    documents = json.loads((CORPUS / "corpus.json").read_text())["documents"]

    def index(number: int) -> int:
        document = documents[number]
        return services.document_index(
            source="bench",
            ref=f"index-{number}",
            collection="bench-index",
            title=document["title"],
            content=document["text"],
            fmt=document["format"],
            owner_id=user.id,
        ).chunks

    chunks, used, started = 0, 0, time.perf_counter()
    while chunks < index_chunks and used < len(documents):
        chunks += index(used)
        used += 1
    indexing_seconds = time.perf_counter() - started
    reindex_started = time.perf_counter()
    for number in range(used):
        index(number)
    reindex_seconds = time.perf_counter() - reindex_started
    sample = [
        draft.embedding_text
        for document in documents[:3]
        for draft in chunk_text(
            document["text"], fmt=document["format"], token_spans=embedder.token_spans, size=200, overlap=30
        )
    ][:64]
    embed_started = time.perf_counter()
    embedder.embed(sample)
    embed_seconds = time.perf_counter() - embed_started
    return {
        "chunks": chunks,
        "chunks_per_second": chunks / indexing_seconds,
        "embed_chunks_per_second": len(sample) / embed_seconds,
        "unchanged_reindex_seconds": reindex_seconds,
    }


def build_collection(*, size: int, user_id: Any) -> str:
    """A collection of `size` chunks: corpus texts, corpus vectors jittered and renormalised."""
    import numpy as np

    from backend.embeddings import get_embedder, normalise
    from retrieval.chunking import chunk_text
    from retrieval.models import Chunk, Document

    embedder = get_embedder()
    documents = json.loads((CORPUS / "corpus.json").read_text())["documents"]
    drafts = [
        draft
        for document in documents
        for draft in chunk_text(
            document["text"], fmt=document["format"], token_spans=embedder.token_spans, size=200, overlap=30
        )
    ]
    cache_file = Path(tempfile.gettempdir()) / f"aia-bench-corpus-vectors-{embedder.model_id}.npy"
    if cache_file.exists() and np.load(cache_file).shape[0] == len(drafts):
        base = np.load(cache_file)
    else:
        base = embedder.embed([draft.embedding_text for draft in drafts])
        np.save(cache_file, base)
    rng = np.random.default_rng(7)
    collection = f"bench-{size}"
    per_document = 500
    for start in range(0, size, per_document):
        document = Document.objects.create(
            source="bench",
            ref=f"{collection}-{start}",
            collection=collection,
            owner_id=user_id,
            title=f"Synthetic document {start // per_document}",
            content_hash="-",
            embedding_model=embedder.model_id,
        )
        count = min(per_document, size - start)
        picks = rng.integers(0, len(drafts), count)
        vectors = normalise(base[picks] + rng.normal(0, 0.05, (count, base.shape[1])).astype(np.float32))
        Chunk.objects.bulk_create(
            [
                Chunk(
                    document=document,
                    ordinal=i,
                    heading=drafts[pick].heading[:500],
                    text=drafts[pick].text,
                    text_hash="-",
                    token_count=drafts[pick].token_count,
                    embedding=vectors[i].tobytes(),
                )
                for i, pick in enumerate(picks)
            ],
            batch_size=1000,
        )
    return collection


def bench_search(*, size: int, queries: int, user_id: Any) -> dict[str, Any]:
    from django.db import connection

    from retrieval import selectors
    from retrieval.services import collection_touch

    started = time.perf_counter()
    collection = build_collection(size=size, user_id=user_id)
    build_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:  # as autovacuum would after a bulk load: the planner needs the counts
        cursor.execute("ANALYZE retrieval_chunk")
        cursor.execute("ANALYZE retrieval_document")
    collection_touch(collection=collection)
    questions = [q["q"] for q in json.loads((CORPUS / "questions.json").read_text())]
    selectors.matrices_forget()
    cold_started = time.perf_counter()
    selectors.chunk_search(collection=collection, owner_id=user_id, query=questions[0], k=5, mode="vector")
    cold_ms = (time.perf_counter() - cold_started) * 1000
    results: dict[str, Any] = {"size": size, "build_seconds": build_seconds, "cold_matrix_load_ms": cold_ms}
    for mode in ("hybrid", "fulltext", "vector"):
        timings = []
        for n in range(queries):
            query = questions[n % len(questions)]
            began = time.perf_counter()
            selectors.chunk_search(collection=collection, owner_id=user_id, query=query, k=5, mode=mode)
            timings.append((time.perf_counter() - began) * 1000)
        results[mode] = summary(timings)
    return results


def report(indexing: dict[str, Any], searches: list[dict[str, Any]], queries: int) -> str:
    lines = [
        "## Retrieval",
        "",
        f"`python bench/retrieval.py` — {machine_line()}; PostgreSQL and Redis on loopback; offline embedder "
        "all-MiniLM-L6-v2 int8 ONNX (onnxruntime, CPU); chunks of 200 tokens, overlap 30.",
        "",
        "| indexing | figure |",
        "|---|---|",
        f"| chunk + embed + store, from scratch ({indexing['chunks']} chunks) | "
        f"{indexing['chunks_per_second']:.1f} chunks/s |",
        f"| embedder alone (batches of 32) | {indexing['embed_chunks_per_second']:.1f} chunks/s |",
        f"| re-index of the same unchanged documents | {indexing['unchanged_reindex_seconds'] * 1000:.0f} ms in all |",
        "",
        f"Search latency, k=5, {queries} queries per mode, warm (ms):",
        "",
        "| chunks | hybrid p50 | hybrid p99 | full text p50 | full text p99 | vector p50 | vector p99 "
        "| cold matrix load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in searches:
        lines.append(
            f"| {result['size']:,} | {result['hybrid']['p50']:.1f} | {result['hybrid']['p99']:.1f} | "
            f"{result['fulltext']['p50']:.1f} | {result['fulltext']['p99']:.1f} | "
            f"{result['vector']['p50']:.1f} | {result['vector']['p99']:.1f} | {result['cold_matrix_load_ms']:.0f} |"
        )
    lines += [
        "",
        "Hybrid = query embedding + full text (GIN) + exact cosine over the collection's matrix + reciprocal "
        "rank fusion + one query for the winners' text. The search collections use corpus texts with jittered "
        "corpus vectors (see the script); indexing figures use the real embedder end to end. At 100k chunks the "
        "full-text ranking dominates: the synthetic collection repeats 331 texts, so a question's words match a fifth "
        "or more of all chunks and every match is ranked (ts_rank_cd); real collections match far fewer. The machine "
        "is shared with other work, so these are upper bounds.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index-chunks", type=int, default=300)
    parser.add_argument("--write", type=Path, help="Write the figures into this Markdown file's bench section.")
    args = parser.parse_args()
    prepare_database(DB_NAME, ENV)
    setup_django()
    from django.contrib.auth import get_user_model

    indexing = bench_indexing(index_chunks=args.index_chunks)
    print(json.dumps(indexing, indent=1))
    user = get_user_model().objects.create_user("bench-search@example.com", None)
    searches = []
    for size in args.sizes:
        result = bench_search(size=size, queries=args.queries, user_id=user.id)
        print(json.dumps(result, indent=1))
        searches.append(result)
    text = report(indexing, searches, args.queries)
    print(text)
    if args.write:
        write_section(args.write, "retrieval", text)


if __name__ == "__main__":
    main()
