"""Non-streaming calls, tool use, prompt caching and token counting through the LLM layer."""

from __future__ import annotations

import pytest

from backend.llm import service
from backend.llm.emulator.accounting import count_input
from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.models import LLMCall
from backend.llm.tokens import estimate_request_tokens
from backend.llm.types import (
    CachePoint,
    CallContext,
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    Message,
    StopReason,
    StreamStop,
    TextBlock,
    ToolSpec,
    ToolUseEvent,
)
from tests.backend.llm.helpers import PRIMARY, make_request

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def test_sync_complete_returns_text_usage_and_the_answering_model(emulator):
    prompt = "Summarise [[emu:tokens=9]]"

    completion = service.complete(make_request(prompt))

    assert completion.text == "".join(default_reply_tokens(strip_directives(prompt), 9))
    assert completion.model_id == PRIMARY
    assert completion.usage.output_tokens == 9
    assert completion.usage.input_tokens == count_input(emulator.requests()[-1]["body"]).tokens
    assert completion.stop_reason is StopReason.END_TURN
    call = LLMCall.objects.get()
    assert (call.streamed, call.purpose, call.reference) == (False, "test", "test:1")


async def test_async_complete(emulator):
    completion = await service.acomplete(make_request("[[emu:reply=Just this.]]"))

    assert completion.text == "Just this."
    assert await LLMCall.objects.acount() == 1


def test_tool_use_comes_back_as_a_structured_call(emulator):
    emulator.add_rule(
        {"match": "weather", "response": {"tool_use": {"name": "get_weather", "input": {"city": "Oslo"}}}}
    )

    completion = service.complete(make_request("What's the weather in Oslo?", tools=(WEATHER_TOOL,)))

    assert completion.stop_reason is StopReason.TOOL_USE
    assert [(t.name, t.input) for t in completion.tool_uses] == [("get_weather", {"city": "Oslo"})]
    sent = emulator.requests()[-1]["body"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


async def test_streamed_tool_use_is_assembled_from_fragments(emulator):
    emulator.add_rule(
        {"match": "weather", "response": {"tool_use": {"name": "get_weather", "input": {"city": "Bergen, NO"}}}}
    )

    events = [e async for e in service.astream(make_request("weather please", tools=(WEATHER_TOOL,)))]

    tool_events = [e for e in events if isinstance(e, ToolUseEvent)]
    assert [e.tool_use.input for e in tool_events] == [{"city": "Bergen, NO"}]
    assert isinstance(events[-1], StreamStop) and events[-1].stop_reason is StopReason.TOOL_USE


def test_attachments_are_sent_as_converse_image_and_document_blocks(emulator):
    request = LLMRequest(
        messages=(
            Message(
                role="user",
                content=(
                    ImageBlock(format="png", data=PNG),
                    DocumentBlock(format="txt", name="notes", data=b"meeting notes"),
                    TextBlock("What do these say?"),
                ),
            ),
        ),
        alias="solo",
    )

    service.complete(request)

    content = emulator.requests()[-1]["body"]["messages"][0]["content"]
    assert content[0]["image"]["format"] == "png"
    assert content[1]["document"]["name"] == "notes"
    assert content[2] == {"text": "What do these say?"}


def test_prompt_cache_points_are_written_then_read(emulator):
    long_system = "You are a careful assistant. " * 400  # well above the 1,024-token minimum
    request = LLMRequest(
        system=(TextBlock(long_system), CachePoint()),
        messages=(Message.user("[[emu:tokens=3]] question"),),
        alias="solo",
        context=CallContext(purpose="test"),
    )

    first = service.complete(request)
    second = service.complete(request)

    assert first.usage.cache_write_tokens > 1000 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.cost < first.cost  # cache reads are billed at a tenth of the input price
    assert emulator.requests()[-1]["body"]["system"][1] == {"cachePoint": {"type": "default"}}


def test_count_tokens_uses_the_bare_model_id_and_matches_the_emulator(emulator):
    request = make_request("How many tokens is this sentence, exactly?")

    tokens = service.count_tokens(request)

    recorded = emulator.requests()[-1]
    assert recorded["operation"] == "count-tokens"
    assert recorded["model_id"] == "anthropic.claude-sonnet-4-6"
    assert tokens == count_input(recorded["body"]["input"]["converse"]).tokens


async def test_count_tokens_falls_back_to_the_estimate_when_the_provider_fails(emulator):
    emulator.throttle("claude-sonnet-4-6", 60)
    request = make_request("count me")

    assert await service.acount_tokens(request) == estimate_request_tokens(request)


def test_the_local_estimate_errs_high(emulator):
    request = make_request("The quick brown fox jumps over the lazy dog. " * 20)

    assert estimate_request_tokens(request) >= service.count_tokens(request)
