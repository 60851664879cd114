"""The embedder adapter: the offline model, the hosted one (stubbed), and choosing one by configuration."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from backend import embeddings


@pytest.fixture(scope="module")
def local():
    return embeddings.LocalMiniLMEmbedder()


def test_the_offline_model_embeds_by_meaning_with_unit_vectors(local):
    vectors = local.embed(["How do I reset my password?", "I forgot my login credentials", "The moon causes the tides"])

    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.5 > unrelated + 0.3
    assert local.embed([]).shape == (0, 384)


def test_token_spans_are_offsets_of_word_pieces_in_the_text(local):
    text = "Embeddings run offline."
    spans = local.token_spans(text)

    assert spans[0][0] == 0 and all(start < end for start, end in spans)
    assert "".join(text[start:end] for start, end in spans) == "Embeddingsrunoffline."
    assert spans[-1][1] == len(text)


def test_the_hosted_embedder_asks_bedrock_and_normalises(monkeypatch, settings):
    calls = []

    class FakeClient:
        def invoke_model(self, *, modelId, body):
            calls.append((modelId, json.loads(body)))
            return {"body": io.BytesIO(json.dumps({"embedding": [3.0, 4.0] + [0.0] * 1022}).encode())}

    import boto3

    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: FakeClient())
    embedder = embeddings.BedrockTitanEmbedder()

    vectors = embedder.embed(["hello"])

    assert calls == [("amazon.titan-embed-text-v2:0", {"inputText": "hello", "dimensions": 1024, "normalize": True})]
    assert vectors.shape == (1, 1024) and vectors[0, :2].tolist() == pytest.approx([0.6, 0.8])
    assert embedder.token_spans("a b.") == [(0, 1), (2, 3), (3, 4)]


def test_the_embedder_is_chosen_by_configuration_and_made_once(settings):
    settings.EMBEDDINGS_BACKEND = "tests.retrieval.fakes.HashingEmbedder"

    first, second = embeddings.get_embedder(), embeddings.get_embedder()

    assert first is second and first.model_id == "test-hashing"
