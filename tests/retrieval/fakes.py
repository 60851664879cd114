"""A fast, deterministic stand-in embedder: hashed bag of words (tests that are not about meaning)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from backend.embeddings import normalise, word_spans


class HashingEmbedder:
    model_id = "test-hashing"
    dimensions = 64
    max_tokens = 512

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for start, end in word_spans(text.lower()):
                digest = hashlib.blake2b(text.lower()[start:end].encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimensions] += 1.0
        out[:, 0] += 1e-3  # no zero vector
        return normalise(out)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return word_spans(text)
