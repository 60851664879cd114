from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval.selectors import matrices_forget


@pytest.fixture
def hashing_embedder(settings) -> Iterator[None]:
    """Services and selectors on the fast stand-in embedder (its vectors cached per process)."""
    settings.EMBEDDINGS_BACKEND = "tests.retrieval.fakes.HashingEmbedder"
    matrices_forget()
    yield
    matrices_forget()
