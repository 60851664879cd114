"""`DeltaFastStream` yields exactly what botocore's parser yields, for every kind of stream event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.llm import bedrock
from tests.backend.llm.helpers import PRIMARY, comparable_events

WEATHER_TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}


async def _both(text: str, **extra: Any) -> tuple[list[Any], list[Any], int]:
    client = await bedrock.async_client(stream=True)
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": text}]}], **extra}
    plain = await comparable_events((await client.converse_stream(**kwargs))["stream"])
    fast_stream = bedrock.DeltaFastStream((await client.converse_stream(**kwargs))["stream"])
    parsed = 0
    inner = fast_stream._stream
    original = inner._parse_event

    async def counting(message: Any) -> Any:
        nonlocal parsed
        parsed += 1
        return await original(message)

    inner._parse_event = counting
    fast = await comparable_events(fast_stream)
    return plain, fast, parsed


@pytest.mark.parametrize(
    "prompt",
    [
        "Tell me about tides [[emu:tokens=12]]",
        '[[emu:reply=Line one,\n  «unicode» — "quoted" \\ and emoji 🌊.]]',
        "[[emu:tokens=5]] [[emu:stop_reason=max_tokens]]",
        "[[emu:tokens=6]] [[emu:midstream_error=throttlingException@3]]",
        "[[emu:tokens=6]] [[emu:midstream_error=modelStreamErrorException@2]]",
        "[[emu:tokens=6]] [[emu:midstream_error=error@2]]",
        "[[emu:tokens=0]]",
    ],
)
async def test_the_fast_stream_yields_what_botocore_yields(emulator, prompt):
    plain, fast, parsed = await _both(prompt)

    assert fast == plain
    deltas = sum(1 for event in plain if isinstance(event, dict) and "contentBlockDelta" in event)
    assert parsed == len(plain) - deltas  # only the text deltas skipped botocore's parser


async def test_tool_use_deltas_go_through_botocore_and_match(emulator):
    emulator.add_rule(
        {"match": "weather in Paris", "response": {"tool_use": {"name": "get_weather", "input": {"city": "Paris"}}}}
    )

    plain, fast, parsed = await _both("What is the weather in Paris?", toolConfig=WEATHER_TOOL_CONFIG)

    assert any("toolUse" in event.get("contentBlockDelta", {}).get("delta", {}) for event in plain)
    assert fast == plain
    assert parsed == len(plain)  # a tool-use delta is not a text delta: botocore parses it


@pytest.mark.parametrize(
    "payload",
    [
        {"delta": {"text": "hi"}, "contentBlockIndex": 0, "q": "x"},  # an unmodeled member
        {"delta": {"text": "hi", "extra": 1}, "contentBlockIndex": 0},
        {"delta": {"text": 5}, "contentBlockIndex": 0},
        {"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 0},
        {"delta": {"text": "hi"}, "contentBlockIndex": "0"},
        {"delta": {"text": "hi"}, "contentBlockIndex": True},
        ["not", "an", "object"],
    ],
)
def test_a_payload_of_any_other_shape_is_left_to_botocore(payload):
    assert bedrock._text_delta(json.dumps(payload).encode()) is None


def test_a_payload_that_is_not_json_is_left_to_botocore():
    assert bedrock._text_delta(b"{not json") is None
    assert bedrock._text_delta(b"\xff\xfe") is None


def test_a_plain_text_delta_is_its_own_parsed_form_without_the_padding():
    payload = {"delta": {"text": "tides «ebb»"}, "contentBlockIndex": 2, "p": "abcdefgh"}

    assert bedrock._text_delta(json.dumps(payload).encode()) == {
        "delta": {"text": "tides «ebb»"},
        "contentBlockIndex": 2,
    }
    assert bedrock._text_delta(b'{"delta": {"text": "x"}}') == {"delta": {"text": "x"}}


async def test_a_malformed_request_is_refused_by_the_service_not_by_botocore(emulator):
    """botocore's client-side parameter check is off (it walked the whole history per call):
    Bedrock's validation answers, and the LLM layer classifies that like any 400."""
    from botocore.exceptions import ClientError

    from backend.llm.errors import FailureKind

    client = await bedrock.async_client(stream=True)
    with pytest.raises(ClientError) as raised:
        await client.converse_stream(modelId=PRIMARY, messages=[{"role": "user", "content": [{"text": 5}]}])

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert bedrock.classify(raised.value, model_id=PRIMARY).kind is FailureKind.CLIENT_ERROR
