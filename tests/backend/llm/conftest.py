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
