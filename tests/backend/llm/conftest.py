"""Fixtures for the LLM layer: test aliases over the default models, request builders."""

from __future__ import annotations

import pytest

from backend.llm.types import CallContext, LLMRequest, Message

PRIMARY = "us.anthropic.claude-sonnet-4-6"
SECONDARY = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


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


def make_request(text: str, *, alias: str = "pair", **kwargs) -> LLMRequest:
    return LLMRequest(
        messages=(Message.user(text),),
        alias=alias,
        context=kwargs.pop("context", CallContext(purpose="test", reference="test:1")),
        **kwargs,
    )


@pytest.fixture(autouse=True)
async def _close_async_clients():
    """Async SDK clients belong to one event loop; each test has its own loop."""
    yield
    from backend.llm import service

    await service.aclose_clients()


# --- Models of the other providers, all answered by the emulator -----------------------------------

ANTHROPIC = "claude-sonnet-4-6"  # the Anthropic API entry of the default catalogue
OPENAI = "gpt-emu"  # an OpenAI-compatible model with vision
LOCAL = "local-llama"  # a text-only local model (Ollama-style: no key)
ANTHROPIC_KEY = "sk-ant-test-4e1f9c0d-never-in-a-log"
OPENAI_KEY = "sk-test-openai-7b2a55e1-never-in-a-log"

OPENAI_MODELS = [
    {
        "id": OPENAI,
        "provider": "openai",
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "max_documents": 5,
        "price_input": 0.15,
        "price_output": 0.60,
        "price_cache_read": 0.075,
        "exclusive_sampling": False,
    },
    {
        "id": LOCAL,
        "provider": "openai",
        "model": "llama3.2",
        "api_key_env": "",
        "context_window": 128_000,
        "max_output_tokens": 8192,
        "max_images": 0,
        "max_documents": 0,
        "exclusive_sampling": False,
    },
]


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
