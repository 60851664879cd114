"""The Anthropic API and OpenAI-compatible adapters, through the real SDKs against the emulator.

Streaming text and usage, sync and async, non-streaming answers, tool use round trips,
images and documents, prompt caching and token counting, per provider.
"""

from __future__ import annotations

import pytest

from backend.llm import service
from backend.llm.emulator.accounting import count_input
from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.models import LLMCall
from backend.llm.registry import get_registry
from backend.llm.tokens import estimate_request_tokens
from backend.llm.types import (
    CachePoint,
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    Message,
    StopReason,
    StreamStart,
    StreamStop,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseEvent,
)
from backend.llm.usage import CallReport
from tests.backend.llm.helpers import ANTHROPIC, LOCAL, OPENAI, make_request
from tests.backend.llm.test_service_complete import PNG, WEATHER_TOOL

pytestmark = pytest.mark.django_db(transaction=True)

# (alias, model id, provider, operation in the emulator's request log)
PROVIDERS = [
    pytest.param("anthropic-solo", ANTHROPIC, "anthropic", "messages", id="anthropic"),
    pytest.param("openai-solo", OPENAI, "openai", "chat-completions", id="openai"),
    pytest.param("local-solo", LOCAL, "openai", "chat-completions", id="local"),
]


def text_of(events) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


@pytest.mark.parametrize(("alias", "model_id", "provider", "operation"), PROVIDERS)
async def test_async_stream_text_and_usage_are_exact(emulator, alias, model_id, provider, operation):
    prompt = "Tell me about tides [[emu:tokens=25]]"

    events = [event async for event in service.astream(make_request(prompt, alias=alias))]

    assert events[0] == StreamStart(model_id=model_id, alias=alias)
    assert text_of(events) == "".join(default_reply_tokens(strip_directives(prompt), 25))
    stop = events[-1]
    assert isinstance(stop, StreamStop)
    assert stop.stop_reason is StopReason.END_TURN
    recorded = emulator.requests()[-1]
    assert recorded["operation"] == operation
    assert stop.usage.input_tokens == count_input(recorded["converse"]).tokens
    assert stop.usage.output_tokens == 25
    assert stop.usage.estimated is False
    call = await LLMCall.objects.aget()
    assert (call.model_id, call.provider, call.status) == (model_id, provider, "ok")
    assert (call.input_tokens, call.output_tokens) == (stop.usage.input_tokens, 25)
    assert call.cost == get_registry().model(model_id).cost(stop.usage)


@pytest.mark.parametrize(("alias", "model_id", "provider", "operation"), PROVIDERS)
def test_sync_stream_and_complete(emulator, alias, model_id, provider, operation):
    prompt = "Sync please [[emu:tokens=12]]"
    expected = "".join(default_reply_tokens(strip_directives(prompt), 12))

    events = list(service.stream(make_request(prompt, alias=alias)))
    completion = service.complete(make_request(prompt, alias=alias))

    assert text_of(events) == expected
    assert events[-1].usage.output_tokens == 12
    assert completion.text == expected
    assert completion.model_id == model_id
    assert completion.usage.output_tokens == 12
    assert completion.usage.input_tokens == count_input(emulator.requests()[-1]["converse"]).tokens
    assert [call.provider for call in LLMCall.objects.order_by("created_at")] == [provider, provider]


@pytest.mark.parametrize(("alias", "model_id", "provider", "operation"), PROVIDERS)
async def test_async_complete_and_max_tokens(emulator, alias, model_id, provider, operation):
    completion = await service.acomplete(make_request("[[emu:tokens=50]]", alias=alias, max_tokens=5))

    assert completion.stop_reason is StopReason.MAX_TOKENS
    assert completion.usage.output_tokens == 5


@pytest.mark.parametrize(("alias", "model_id", "provider", "operation"), PROVIDERS)
async def test_tool_use_round_trip(emulator, alias, model_id, provider, operation):
    tool_call = {"name": "get_weather", "input": {"city": "Paris"}}
    emulator.add_rule({"match": "weather in Paris", "response": {"tool_use": tool_call}, "times": 1})
    question = Message.user("What is the weather in Paris?")

    events = [
        event
        async for event in service.astream(
            LLMRequest(messages=(question,), alias=alias, tools=(WEATHER_TOOL,), tool_choice="auto")
        )
    ]

    tool_events = [event for event in events if isinstance(event, ToolUseEvent)]
    assert len(tool_events) == 1
    tool_use = tool_events[0].tool_use
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "Paris"})
    assert events[-1].stop_reason is StopReason.TOOL_USE

    result = ToolResultBlock(tool_use_id=tool_use.tool_use_id, content="18°C, sunny")
    answer = await service.acomplete(
        LLMRequest(
            messages=(
                question,
                Message(role="assistant", content=(tool_use,)),
                Message(role="user", content=(result, TextBlock("[[emu:reply=It is sunny.]]"))),
            ),
            alias=alias,
            tools=(WEATHER_TOOL,),
        )
    )

    assert answer.text == "It is sunny."
    sent = emulator.requests()[-1]["converse"]["messages"]
    assert sent[1]["content"] == [
        {"toolUse": {"toolUseId": tool_use.tool_use_id, "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert sent[2]["content"][0] == {
        "toolResult": {"toolUseId": tool_use.tool_use_id, "content": [{"text": "18°C, sunny"}]}
    }


async def test_non_streaming_tool_use_on_each_provider(emulator):
    for alias in ("anthropic-solo", "openai-solo"):
        tool_call = {"name": "get_weather", "input": {"city": "Oslo"}}
        emulator.add_rule({"match": "weather", "response": {"tool_use": tool_call}, "times": 1})
        request = LLMRequest(messages=(Message.user("weather?"),), alias=alias, tools=(WEATHER_TOOL,))

        completion = await service.acomplete(request)

        assert completion.tool_uses == [
            ToolUseBlock(tool_use_id=completion.tool_uses[0].tool_use_id, name="get_weather", input={"city": "Oslo"})
        ]
        assert completion.stop_reason is StopReason.TOOL_USE


@pytest.mark.parametrize("alias", ["anthropic-solo", "openai-solo"])
async def test_images_and_pdf_documents_reach_the_model(emulator, alias):
    pdf = b"%PDF-1.4 a tiny document"
    request = LLMRequest(
        messages=(
            Message(
                role="user",
                content=(
                    ImageBlock(format="png", data=PNG),
                    DocumentBlock(format="pdf", name="report", data=pdf),
                    TextBlock("Describe both [[emu:tokens=4]]"),
                ),
            ),
        ),
        alias=alias,
    )

    completion = await service.acomplete(request)

    content = emulator.requests()[-1]["converse"]["messages"][0]["content"]
    assert content[0]["image"]["format"] == "png"
    assert content[1]["document"]["format"] == "pdf"
    assert completion.usage.input_tokens == count_input(emulator.requests()[-1]["converse"]).tokens


async def test_anthropic_cache_points_become_cache_control_with_cache_usage(emulator):
    long_system = "You are a careful assistant. " * 800  # well above the emulator's 1024-token minimum
    request = LLMRequest(
        messages=(Message.user("hi [[emu:tokens=3]]"),),
        system=(TextBlock(long_system), CachePoint()),
        alias="anthropic-solo",
    )

    first = await service.acomplete(request)
    body = emulator.requests()[-1]["body"]
    second = [event async for event in service.astream(request)][-1]

    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cache_write_tokens == 0


async def test_token_counting_per_provider(emulator):
    request = make_request("count these tokens please", alias="anthropic-solo")

    exact = await service.acount_tokens(request)
    sync_exact = service.count_tokens(request)
    estimated = await service.acount_tokens(make_request("count these tokens please", alias="openai-solo"))

    assert exact == sync_exact == count_input(emulator.requests()[-1]["converse"]).tokens
    assert emulator.requests()[-1]["operation"] == "messages-count-tokens"
    assert estimated == estimate_request_tokens(request)


@pytest.mark.parametrize(("alias", "model_id", "provider", "operation"), PROVIDERS[:2])
async def test_closing_the_stream_early_records_cancelled_with_the_provider(
    emulator, alias, model_id, provider, operation
):
    report = CallReport()
    stream = service.astream(make_request("[[emu:tokens=200]] [[emu:delay_ms=20]]", alias=alias), report=report)
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()

    call = await LLMCall.objects.aget()
    assert (call.status, call.provider, call.model_id) == ("cancelled", provider, model_id)
    assert call.output_tokens >= 1
    assert (report.status, report.provider, report.usage) == ("cancelled", provider, call_usage(call))


def call_usage(call: LLMCall):
    from backend.llm.types import Usage

    return Usage(
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cache_read_tokens=call.cache_read_tokens,
        cache_write_tokens=call.cache_write_tokens,
        estimated=call.usage_estimated,
    )


async def test_a_server_that_reports_no_usage_gets_its_tokens_estimated(emulator, monkeypatch):
    from backend.llm import openai_compat

    async def without_usage(self, prepared, model):  # a server ignoring stream_options.include_usage
        return await openai_compat._clients.async_(model, stream=True).chat.completions.create(**prepared, stream=True)

    monkeypatch.setattr(openai_compat.OpenAICompatAdapter, "aopen_stream", without_usage)
    request = make_request("[[emu:tokens=7]] hi", alias="openai-solo")

    stop = [event async for event in service.astream(request)][-1]

    assert stop.usage.estimated is True
    assert stop.usage.input_tokens == estimate_request_tokens(request)
    assert stop.usage.output_tokens > 0
    assert (await LLMCall.objects.aget()).usage_estimated is True
