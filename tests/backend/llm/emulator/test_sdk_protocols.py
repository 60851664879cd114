"""The Anthropic Messages API and OpenAI Chat Completions on the emulator, as the official SDKs see them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from backend.llm.emulator import EmulatorServer, default_reply_tokens
from backend.llm.emulator.accounting import count_input

MODEL = "claude-sonnet-4-6"


@pytest.fixture(scope="module")
def claude(emulator: EmulatorServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-secret", base_url=emulator.url, max_retries=0)


@pytest.fixture(scope="module")
def gpt(emulator: EmulatorServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-secret", base_url=f"{emulator.url}/v1", max_retries=0)


def test_messages_stream_sends_the_anthropic_event_sequence(emulator: EmulatorServer, claude: Any) -> None:
    with claude.messages.create(
        model=MODEL, max_tokens=100, stream=True, messages=[{"role": "user", "content": "hi there [[emu:tokens=3]]"}]
    ) as stream:
        events = list(stream)

    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK drops the ping
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "".join(
        default_reply_tokens("hi there ", 3)
    )
    recorded = emulator.requests()[-1]
    assert events[0].message.usage.input_tokens == count_input(recorded["converse"]).tokens
    assert events[-2].usage.output_tokens == 3
    assert events[-2].delta.stop_reason == "end_turn"


def test_messages_api_requires_a_key_header_and_never_records_it(
    emulator: EmulatorServer, claude: Any, http: Callable[..., Any]
) -> None:
    claude.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

    keyless = http("POST", "/v1/messages", json.dumps(body).encode())

    assert keyless.status == 401
    assert keyless.json()["error"]["type"] == "authentication_error"
    assert "sk-ant-secret" not in json.dumps(emulator.requests())


@pytest.mark.parametrize(
    ("directive", "error", "status", "error_type"),
    [
        ("[[emu:throttle]]", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("[[emu:unavailable]]", anthropic.OverloadedError, 529, "overloaded_error"),
        ("[[emu:error=InternalServerException]]", anthropic.InternalServerError, 500, "api_error"),
        ("[[emu:error=ValidationException]]", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_messages_api_errors_have_anthropic_statuses_and_types(
    claude: Any, directive: str, error: type[Exception], status: int, error_type: str
) -> None:
    with pytest.raises(error) as caught:
        claude.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": directive}])

    assert caught.value.status_code == status
    assert caught.value.type == error_type


def test_messages_stream_error_event(claude: Any) -> None:
    texts = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in claude.messages.create(
            model=MODEL,
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "[[emu:midstream_error=throttlingException@2]] [[emu:tokens=5]]"}],
        ):
            if event.type == "content_block_delta":
                texts.append(event.delta.text)

    assert len(texts) == 2
    assert caught.value.type == "overloaded_error"


def test_count_tokens_matches_the_converse_count(emulator: EmulatorServer, claude: Any) -> None:
    counted = claude.messages.count_tokens(
        model=MODEL, system="Be brief.", messages=[{"role": "user", "content": "How many tokens is this?"}]
    )

    assert counted.input_tokens == count_input(emulator.requests()[-1]["converse"]).tokens > 0


def test_chat_completions_stream_with_usage_and_done(emulator: EmulatorServer, gpt: Any) -> None:
    chunks = list(
        gpt.chat.completions.create(
            model="llama3.2",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hey [[emu:tokens=4]]"}],
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(default_reply_tokens("hey ", 4))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.prompt_tokens == count_input(emulator.requests()[-1]["converse"]).tokens


def test_chat_completions_stream_without_usage_option_sends_no_usage(gpt: Any) -> None:
    chunks = list(
        gpt.chat.completions.create(model="m", stream=True, messages=[{"role": "user", "content": "[[emu:tokens=2]]"}])
    )

    assert all(chunk.usage is None for chunk in chunks)


@pytest.mark.parametrize(
    ("directive", "error", "status", "code"),
    [
        ("[[emu:throttle]]", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("[[emu:unavailable]]", openai.InternalServerError, 503, "service_unavailable"),
        ("[[emu:error=ResourceNotFoundException]]", openai.NotFoundError, 404, "model_not_found"),
    ],
)
def test_chat_completions_errors_have_openai_bodies(
    gpt: Any, directive: str, error: type[Exception], status: int, code: str
) -> None:
    with pytest.raises(error) as caught:
        gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": directive}])

    assert caught.value.status_code == status
    assert caught.value.code == code


def test_chat_completions_tool_call_stream(emulator: EmulatorServer, gpt: Any, control: Callable[..., Any]) -> None:
    control(
        "POST", "rules", {"match": "look up", "response": {"tool_use": {"name": "lookup", "input": {"q": "tides"}}}}
    )
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}

    chunks = list(
        gpt.chat.completions.create(
            model="m", stream=True, tools=[tool], messages=[{"role": "user", "content": "look up tides"}]
        )
    )

    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "lookup"
    assert json.loads("".join(call.function.arguments or "" for call in calls)) == {"q": "tides"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
