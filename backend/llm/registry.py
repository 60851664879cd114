"""The model registry: aliases → ordered fallback chains of models, with provider, limits and prices.

Everything here comes from settings (`LLM_MODELS`, `LLM_ALIASES`, `LLM_PROVIDERS`, replaceable
through `LLM_CONFIG_FILE`): model ids are configuration, never code. Settings are read lazily
and the parsed registry is rebuilt whenever those settings objects change (tests override them).

Each entry names its provider (`bedrock`, `anthropic`, `openai`) and, for the last two, its
connection: a base URL and the *name* of the environment variable holding the API key, both
defaulting to the provider's entry in `LLM_PROVIDERS`. A key itself is never configuration:
an entry or provider carrying an `api_key` is refused. A chain may mix providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from backend.errors import ErrorCode, ValidationFailed
from backend.llm.types import Usage

_MILLION = Decimal(1_000_000)
PROVIDER_NAMES = frozenset({"bedrock", "anthropic", "openai"})


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    context_window: int
    max_output_tokens: int
    max_images: int
    max_image_bytes: int
    max_image_pixels: int
    max_documents: int
    max_document_bytes: int
    min_cache_tokens: int
    price_input: Decimal
    price_output: Decimal
    price_cache_read: Decimal
    price_cache_write: Decimal
    count_tokens_id: str
    # Claude 4.5+ refuse requests that set both temperature and top_p.
    exclusive_sampling: bool = True
    provider: str = "bedrock"
    # The model name the provider knows (e.g. "llama3.2" for an entry with id "ollama-llama3.2").
    provider_model_id: str = ""
    base_url: str | None = None
    # The NAME of the environment variable holding the API key (never the key).
    api_key_env: str | None = None

    @classmethod
    def from_config(cls, raw: dict[str, Any], providers: dict[str, dict[str, Any]] | None = None) -> ModelSpec:
        provider = raw.get("provider", "bedrock")
        if provider not in PROVIDER_NAMES:
            raise ValueError(f"LLM model {raw.get('id')!r}: unknown provider {provider!r}")
        connection = (providers or {}).get(provider, {})
        for source in (raw, connection):
            if "api_key" in source:
                raise ValueError(
                    f"LLM model {raw.get('id')!r}: API keys are never configuration; "
                    "name the environment variable holding it in api_key_env"
                )
        return cls(
            id=raw["id"],
            context_window=int(raw["context_window"]),
            max_output_tokens=int(raw["max_output_tokens"]),
            max_images=int(raw.get("max_images", 20)),
            max_image_bytes=int(raw.get("max_image_bytes", 3_750_000)),
            max_image_pixels=int(raw.get("max_image_pixels", 8000)),
            max_documents=int(raw.get("max_documents", 5)),
            max_document_bytes=int(raw.get("max_document_bytes", 4_500_000)),
            min_cache_tokens=int(raw.get("min_cache_tokens", 1024)),
            price_input=Decimal(str(raw.get("price_input", 0))),
            price_output=Decimal(str(raw.get("price_output", 0))),
            price_cache_read=Decimal(str(raw.get("price_cache_read", 0))),
            price_cache_write=Decimal(str(raw.get("price_cache_write", 0))),
            count_tokens_id=raw.get("count_tokens_id") or raw["id"],
            exclusive_sampling=bool(raw.get("exclusive_sampling", True)),
            provider=provider,
            provider_model_id=raw.get("model") or raw["id"],
            base_url=raw.get("base_url", connection.get("base_url")) or None,
            api_key_env=raw.get("api_key_env", connection.get("api_key_env")) or None,
        )

    def cost(self, usage: Usage) -> Decimal:
        """USD cost of `usage` on this model (prices are per million tokens)."""
        total = (
            usage.input_tokens * self.price_input
            + usage.output_tokens * self.price_output
            + usage.cache_read_tokens * self.price_cache_read
            + usage.cache_write_tokens * self.price_cache_write
        )
        return (total / _MILLION).quantize(Decimal("0.000001"))


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    label: str
    chain: tuple[str, ...]
    selectable: bool


@dataclass(frozen=True, slots=True)
class ModelRegistry:
    models: dict[str, ModelSpec]
    aliases: dict[str, Alias]

    def alias(self, name: str) -> Alias:
        try:
            return self.aliases[name]
        except KeyError:
            raise ValidationFailed(
                f"Unknown model alias {name!r}.", code=ErrorCode.UNKNOWN_MODEL, details={"model": name}
            ) from None

    def model(self, model_id: str) -> ModelSpec:
        return self.models[model_id]

    def chain(self, alias_name: str) -> list[ModelSpec]:
        return [self.models[model_id] for model_id in self.alias(alias_name).chain]


_cache: tuple[tuple[int, int, int], ModelRegistry] | None = None


def _build(
    models_config: list[dict[str, Any]],
    aliases_config: dict[str, dict[str, Any]],
    providers_config: dict[str, dict[str, Any]],
) -> ModelRegistry:
    models = {raw["id"]: ModelSpec.from_config(raw, providers_config) for raw in models_config}
    aliases: dict[str, Alias] = {}
    for name, raw in aliases_config.items():
        chain = tuple(raw["chain"])
        unknown = [model_id for model_id in chain if model_id not in models]
        if unknown or not chain:
            raise ValueError(f"LLM alias {name!r} names unknown models {unknown} or has an empty chain")
        aliases[name] = Alias(
            name=name, label=raw.get("label", name), chain=chain, selectable=bool(raw.get("selectable", False))
        )
    return ModelRegistry(models=models, aliases=aliases)


def get_registry() -> ModelRegistry:
    """The registry for the current settings (rebuilt when LLM_MODELS/ALIASES/PROVIDERS are replaced)."""
    global _cache
    models_config = settings.LLM_MODELS
    aliases_config = settings.LLM_ALIASES
    providers_config = settings.LLM_PROVIDERS
    key = (id(models_config), id(aliases_config), id(providers_config))
    if _cache is None or _cache[0] != key:
        _cache = (key, _build(models_config, aliases_config, providers_config))
    return _cache[1]


def selectable_aliases() -> list[Alias]:
    """Aliases a user may pick in the UI, in settings order."""
    return [alias for alias in get_registry().aliases.values() if alias.selectable]
