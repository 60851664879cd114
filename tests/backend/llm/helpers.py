"""Names and request builders of the LLM-layer tests: the test models and `make_request`."""

from __future__ import annotations

from typing import Any

from backend.llm.types import CallContext, LLMRequest, Message

PRIMARY = "us.anthropic.claude-sonnet-4-6"
SECONDARY = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


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


def make_request(text: str, *, alias: str = "pair", **kwargs) -> LLMRequest:
    return LLMRequest(
        messages=(Message.user(text),),
        alias=alias,
        context=kwargs.pop("context", CallContext(purpose="test", reference="test:1")),
        **kwargs,
    )


async def comparable_events(stream: Any) -> list[Any]:
    """Every event of a raw Bedrock `stream`, then the exception that ended it (type and message), if any.

    What differs between two identical calls is normalised (the emulator's measured latency, a
    tool-use id), so two streams' events can be compared with `==`. The stream is closed.
    """
    events: list[Any] = []
    try:
        async for event in stream:
            if "metadata" in event:
                event["metadata"].get("metrics", {}).pop("latencyMs", None)
            tool = event.get("contentBlockStart", {}).get("start", {}).get("toolUse")
            if tool is not None:
                tool["toolUseId"] = "tooluse_id"
            events.append(event)
    except Exception as exc:  # the comparison is the point
        events.append((type(exc).__name__, str(exc)))
    finally:
        stream.close()
    return events
