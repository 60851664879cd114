"""Fixtures for the LLM layer: test aliases over the default models (names and builders in helpers.py)."""

from __future__ import annotations

import pytest

from tests.backend.llm.helpers import (
    ANTHROPIC,
    ANTHROPIC_KEY,
    LOCAL,
    OPENAI,
    OPENAI_KEY,
    OPENAI_MODELS,
    PRIMARY,
    SECONDARY,
)


@pytest.fixture(autouse=True)
def llm_aliases(settings):
    """`pair` falls back from PRIMARY to SECONDARY; `solo` has one model (no fallback)."""
    settings.LLM_ALIASES = {
        **settings.LLM_ALIASES,
        "pair": {"label": "Pair", "chain": [PRIMARY, SECONDARY], "selectable": False},
        "solo": {"label": "Solo", "chain": [PRIMARY], "selectable": False},
    }
    settings.LLM_THROTTLE_COOLDOWN_SECONDS = 30
    return settings.LLM_ALIASES


@pytest.fixture(autouse=True)
async def _close_async_clients():
    """Async SDK clients belong to one event loop; each test has its own loop."""
    yield
    from backend.llm import service

    await service.aclose_clients()


@pytest.fixture(autouse=True)
def provider_models(settings, monkeypatch, llm_aliases):
    """Keys in the environment (named by the registry), the OpenAI-compatible models, provider aliases."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    settings.LLM_MODELS = [*settings.LLM_MODELS, *OPENAI_MODELS]
    settings.LLM_ALIASES = {
        **settings.LLM_ALIASES,
        "anthropic-solo": {"chain": [ANTHROPIC]},
        "openai-solo": {"chain": [OPENAI]},
        "local-solo": {"chain": [LOCAL]},
        # Bedrock, then the Anthropic API, then a local model: the cross-provider chain of docs/llm.md.
        "mixed": {"chain": [PRIMARY, ANTHROPIC, LOCAL]},
    }
