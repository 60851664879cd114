import json
from decimal import Decimal
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from backend.errors import ValidationFailed
from backend.llm.registry import ModelSpec, get_registry, selectable_aliases
from backend.llm.types import Usage


def test_every_default_alias_resolves_to_registered_models():
    registry = get_registry()

    for name in ("chat-default", "fast", "prototype"):
        assert registry.chain(name)


def test_unknown_alias_is_a_validation_error():
    with pytest.raises(ValidationFailed) as caught:
        get_registry().alias("gpt-17")

    assert caught.value.code == "unknown_model"


def test_an_alias_naming_an_unknown_model_is_refused(settings):
    settings.LLM_ALIASES = {"broken": {"chain": ["no.such.model"]}}

    with pytest.raises(ValueError, match="unknown models"):
        get_registry()


def test_the_registry_follows_settings_changes(settings):
    settings.LLM_ALIASES = {"only": {"label": "Only", "chain": [settings.LLM_MODELS[0]["id"]], "selectable": True}}

    assert [alias.name for alias in selectable_aliases()] == ["only"]


def test_cost_uses_all_four_prices_per_million_tokens():
    model = ModelSpec.from_config(
        {
            "id": "m",
            "context_window": 1,
            "max_output_tokens": 1,
            "price_input": 3,
            "price_output": 15,
            "price_cache_read": 0.3,
            "price_cache_write": 3.75,
        }
    )

    cost = model.cost(
        Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000, cache_write_tokens=10_000)
    )

    assert cost == Decimal("3") + Decimal("1.5") + Decimal("0.6") + Decimal("0.0375")


def test_count_tokens_ids_are_bare_foundation_model_ids():
    for model in get_registry().models.values():
        assert not model.count_tokens_id.startswith(("us.", "eu.", "apac.", "global."))


@pytest.mark.django_db
def test_the_models_endpoint_lists_selectable_aliases(user):
    client = APIClient()
    client.force_authenticate(user)

    response = client.get("/api/v1/models/")

    assert response.status_code == 200
    rows = {row["alias"]: row for row in response.json()}
    assert "prototype" not in rows  # internal aliases are not offered
    assert rows["chat-default"]["default"] is True
    assert rows["chat-default"]["context_window"] == 200_000


def test_the_documented_cross_provider_chain_is_a_valid_registry(settings):
    config = json.loads((Path(__file__).resolve().parents[3] / "docs" / "llm-config.example.json").read_text())
    settings.LLM_MODELS, settings.LLM_ALIASES = config["models"], config["aliases"]

    chain = get_registry().chain("chat-default")

    assert [model.provider for model in chain] == ["bedrock", "anthropic", "openai"]
    local = chain[-1]
    assert (local.provider_model_id, local.base_url, local.api_key_env) == (
        "llama3.2",
        "http://127.0.0.1:11434/v1",
        None,
    )
    assert chain[1].api_key_env == "ANTHROPIC_API_KEY"


def test_connections_default_to_the_provider_settings(settings):
    settings.LLM_PROVIDERS = {"openai": {"base_url": "http://vllm:8000/v1", "api_key_env": "VLLM_KEY"}}
    settings.LLM_MODELS = [{"id": "qwen", "provider": "openai", "context_window": 1, "max_output_tokens": 1}]
    settings.LLM_ALIASES = {"q": {"chain": ["qwen"]}}

    model = get_registry().model("qwen")

    assert (model.base_url, model.api_key_env, model.provider_model_id) == ("http://vllm:8000/v1", "VLLM_KEY", "qwen")


@pytest.mark.parametrize(
    "entry",
    [
        {"provider": "openai", "api_key": "sk-live-123"},
        {"provider": "cohere"},
    ],
)
def test_keys_in_configuration_and_unknown_providers_are_refused(settings, entry):
    settings.LLM_MODELS = [{"id": "m", "context_window": 1, "max_output_tokens": 1, **entry}]
    settings.LLM_ALIASES = {"a": {"chain": ["m"]}}

    with pytest.raises(ValueError, match=r"API keys are never configuration|unknown provider"):
        get_registry()
