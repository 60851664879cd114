"""A caller may supply a provider's key for its own calls (the admin assistant's AI settings)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from backend.llm.errors import LLMError
from backend.llm.providers import api_key, use_api_keys
from backend.llm.registry import ModelSpec


def _model() -> ModelSpec:
    from django.conf import settings

    entry = next(m for m in settings.LLM_MODELS if m.get("provider") == "anthropic")
    spec = ModelSpec.from_config(entry, settings.LLM_PROVIDERS)
    return dataclasses.replace(spec, api_key_env="NOT_SET_IN_TESTS_KEY")


def test_a_supplied_key_is_used_for_its_provider_only_and_only_inside_the_context(monkeypatch):
    monkeypatch.delenv("NOT_SET_IN_TESTS_KEY", raising=False)
    model = _model()

    with use_api_keys({"anthropic": "sk-supplied-1234"}):
        assert api_key(model, required=True) == "sk-supplied-1234"
    with use_api_keys({"openai": "sk-other"}), pytest.raises(LLMError):
        api_key(model, required=True)
    with pytest.raises(LLMError):
        api_key(model, required=True)


def test_a_supplied_key_stays_in_the_task_that_supplied_it(monkeypatch):
    monkeypatch.delenv("NOT_SET_IN_TESTS_KEY", raising=False)
    model = _model()
    seen: dict[str, str | None] = {}

    async def with_key() -> None:
        with use_api_keys({"anthropic": "sk-task-key"}):
            await asyncio.sleep(0.01)
            seen["inside"] = api_key(model, required=False)

    async def without_key() -> None:
        await asyncio.sleep(0.005)
        try:
            seen["other"] = api_key(model, required=True)
        except LLMError:
            seen["other"] = None

    async def both() -> None:
        await asyncio.gather(with_key(), without_key())

    asyncio.run(both())

    assert seen == {"inside": "sk-task-key", "other": None}
