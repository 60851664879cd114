"""Converse, ConverseStream and CountTokens through real boto3: replies, timing and accounting."""

from __future__ import annotations

import io
import json
import math
import socket
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from backend.llm.emulator import EmulatorServer, default_reply_tokens, estimate_tokens

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU_45_PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def collect(stream: Any) -> list[dict[str, Any]]:
    return list(stream["stream"])


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def expected_usage(input_tokens: int, output_tokens: int, read: int = 0, write: int = 0) -> dict[str, int]:
    return {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens + read + write,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": write,
    }


# -- default replies -------------------------------------------------------------


def test_default_reply_tokens_are_deterministic_and_echo_the_prompt() -> None:
    tokens = default_reply_tokens("  Tell me   about otters ")
    assert tokens == default_reply_tokens("Tell me about otters")
    assert tokens[:5] == ["Echo:", " Tell", " me", " about", " otters"]
    assert 12 <= len(tokens) <= 40
    assert default_reply_tokens("Tell me about otters", 3) == ["Echo:", " Tell", " me"]
    assert len(default_reply_tokens("x", 100)) == 100
    assert default_reply_tokens("", 2) == ["Echo:", " this"]


def test_estimate_tokens() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_converse_returns_exact_text_and_usage(client: Any) -> None:
    prompt = "Tell me about otters please"
    response = client.converse(modelId=SONNET_45, messages=user(prompt))
    tokens = default_reply_tokens(prompt)
    assert response["output"]["message"] == {"role": "assistant", "content": [{"text": "".join(tokens)}]}
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == expected_usage(estimate_tokens(prompt), len(tokens))
    assert response["metrics"]["latencyMs"] >= 0
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_converse_stream_event_sequence_text_and_usage(client: Any) -> None:
    prompt = "Tell me about otters please"
    events = collect(client.converse_stream(modelId=HAIKU_45_PROFILE, messages=user(prompt)))
    tokens = default_reply_tokens(prompt)
    assert events[0] == {"messageStart": {"role": "assistant"}}
    deltas = [e["contentBlockDelta"] for e in events[1 : 1 + len(tokens)]]
    assert deltas == [{"contentBlockIndex": 0, "delta": {"text": t}} for t in tokens]  # padding "p" dropped
    assert events[1 + len(tokens) :][:2] == [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
    ]
    assert not any("contentBlockStart" in e for e in events)  # Bedrock sends none for text
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == expected_usage(estimate_tokens(prompt), len(tokens))
    assert metadata["metrics"]["latencyMs"] >= 0
    assert len(events) == len(tokens) + 4


def test_stream_response_is_chunked_event_stream(http: Any) -> None:
    body = json.dumps({"messages": user("hi [[emu:tokens=2]]")}).encode()
    response = http("POST", f"/model/{SONNET_45}/converse-stream", body)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["x-amzn-RequestId"]


# -- directives ------------------------------------------------------------------


def test_tokens_directive_sets_length_and_is_stripped_from_the_echo(client: Any) -> None:
    events = collect(client.converse_stream(modelId=SONNET_45, messages=user("otters [[emu:tokens=7]] swim")))
    assert streamed_text(events) == "".join(default_reply_tokens("otters swim", 7))
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 7


def test_reply_directive_streams_exact_text_word_by_word(client: Any) -> None:
    text = "Hello,  world!\nSecond line: [x] (y) "
    events = collect(client.converse_stream(modelId=SONNET_45, messages=user(f"[[emu:reply={text}]]")))
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert "".join(deltas) == text
    assert deltas == ["Hello,", "  world!", "\nSecond", " line:", " [x]", " (y) "]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 6


def test_stop_reason_directive(client: Any) -> None:
    response = client.converse(modelId=SONNET_45, messages=user("hi [[emu:stop_reason=stop_sequence]]"))
    assert response["stopReason"] == "stop_sequence"


def test_max_tokens_cuts_the_reply(client: Any) -> None:
    events = collect(
        client.converse_stream(
            modelId=SONNET_45, messages=user("hi [[emu:tokens=30]]"), inferenceConfig={"maxTokens": 5}
        )
    )
    assert streamed_text(events) == "".join(default_reply_tokens("hi", 5))
    assert events[-2] == {"messageStop": {"stopReason": "max_tokens"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 5


def test_directives_only_count_in_the_last_user_message(client: Any) -> None:
    messages = [
        *user("first [[emu:tokens=3]]"),
        {"role": "assistant", "content": [{"text": "ok"}]},
        *user("second"),
    ]
    response = client.converse(modelId=SONNET_45, messages=messages)
    assert response["output"]["message"]["content"][0]["text"] == "".join(default_reply_tokens("second"))


def test_first_delta_arrives_long_before_the_last(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:tokens=20]] [[emu:delay_ms=50]]"))
    arrivals = []
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 20
    assert arrivals[0] < arrivals[-1] - 0.5


def test_first_token_delay_comes_after_message_start(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:tokens=2]] [[emu:first_token_ms=400]]"))
    stream = iter(response["stream"])
    assert next(stream) == {"messageStart": {"role": "assistant"}}
    started = time.monotonic()
    assert "contentBlockDelta" in next(stream)
    assert time.monotonic() - started >= 0.35


def test_non_streaming_converse_takes_the_generation_time(client: Any) -> None:
    started = time.monotonic()
    client.converse(modelId=SONNET_45, messages=user("[[emu:tokens=5]] [[emu:delay_ms=100]]"))
    assert time.monotonic() - started >= 0.4


# -- tool use and rules ----------------------------------------------------------


def test_tool_use_stream_assembles_to_the_scripted_input(emulator: EmulatorServer, client: Any) -> None:
    tool_input = {"city": "Paris", "days": [1, 2, 3], "units": {"temp": "C"}}
    emulator.add_rule({"match": "weather", "response": {"tool_use": {"name": "get_weather", "input": tool_input}}})
    events = collect(client.converse_stream(modelId=SONNET_45, messages=user("What's the weather?")))
    (start,) = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start["contentBlockIndex"] == 0
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert start["start"]["toolUse"]["toolUseId"].startswith("tooluse_")
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == tool_input
    assert {"messageStop": {"stopReason": "tool_use"}} in events
    assert events[-1]["metadata"]["usage"]["outputTokens"] == len(fragments)


def test_text_then_tool_use_via_control_api(control: Any, client: Any) -> None:
    rule = {"text": "Let me check.", "tool_use": {"name": "lookup", "input": {"q": "x"}, "id": "tooluse_fixed"}}
    status, created = control("POST", "rules", {"match": "look", "response": rule})
    assert status == 201
    assert created["id"]
    response = client.converse(modelId=SONNET_45, messages=user("look it up"))
    assert response["output"]["message"]["content"] == [
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_fixed", "name": "lookup", "input": {"q": "x"}}},
    ]
    assert response["stopReason"] == "tool_use"
    events = collect(client.converse_stream(modelId=SONNET_45, messages=user("look again")))
    assert [e["contentBlockStart"]["contentBlockIndex"] for e in events if "contentBlockStart" in e] == [1]


def test_rules_newest_first_model_scoped_and_expiring(emulator: EmulatorServer, client: Any) -> None:
    emulator.add_rule({"match": "hello", "response": {"text": "older"}})
    emulator.add_rule({"match": "hello", "model": "haiku", "response": {"text": "haiku only"}})
    emulator.add_rule({"match": "hello", "response": {"text": "newest twice"}, "times": 2})

    def answer(model: str) -> str:
        return client.converse(modelId=model, messages=user("hello"))["output"]["message"]["content"][0]["text"]

    assert [answer(SONNET_45), answer(SONNET_45)] == ["newest twice", "newest twice"]
    assert answer(HAIKU_45_PROFILE) == "haiku only"
    assert answer(SONNET_45) == "older"


def test_rule_matches_system_text_and_overrides_usage(emulator: EmulatorServer, client: Any) -> None:
    emulator.add_rule({"match": r"persona-\d+", "response": {"text": "a b"}, "usage": {"inputTokens": 1000}})
    response = client.converse(modelId=SONNET_45, system=[{"text": "persona-42"}], messages=user("hi"))
    assert response["output"]["message"]["content"] == [{"text": "a b"}]
    assert response["usage"] == expected_usage(1000, 2)


def test_invalid_rule_is_rejected(control: Any) -> None:
    assert control("POST", "rules", {"match": "(", "response": {"text": "x"}})[0] == 400
    assert control("POST", "rules", {"match": "x", "response": {"fault": "explode@1"}})[0] == 400
    assert control("POST", "rules", {"match": "x", "response": {}})[0] == 400
    assert control("POST", "rules", {"match": "x", "response": {"text": "y"}, "times": 0})[0] == 400


# -- input accounting and prompt caching -----------------------------------------


def test_input_tokens_cover_system_tools_images_and_documents(client: Any) -> None:
    image = png(300, 200)
    document = b"col1,col2\n" * 100
    tool = {"toolSpec": {"name": "calc", "description": "adds", "inputSchema": {"json": {"type": "object"}}}}
    messages = [
        {
            "role": "user",
            "content": [
                {"text": "Look at these"},
                {"image": {"format": "png", "source": {"bytes": image}}},
                {"document": {"format": "csv", "name": "data", "source": {"bytes": document}}},
            ],
        }
    ]
    response = client.converse(
        modelId=SONNET_45, system=[{"text": "Be brief."}], messages=messages, toolConfig={"tools": [tool]}
    )
    tool_json = json.dumps(tool, sort_keys=True, separators=(",", ":"))
    expected = (
        estimate_tokens("Be brief.")
        + estimate_tokens("Look at these")
        + math.ceil(300 * 200 / 750)
        + math.ceil(len(document) / 4)
        + estimate_tokens(tool_json)
    )
    assert response["usage"]["inputTokens"] == expected


def cached_request(prefix: str, suffix: str) -> dict[str, Any]:
    return {
        "system": [{"text": prefix}, {"cachePoint": {"type": "default"}}],
        "messages": user(suffix),
    }


def test_prompt_cache_writes_then_reads(client: Any) -> None:
    prefix = "You are a careful assistant. " * 200  # ~1450 tokens, above the 1024 minimum
    prefix_tokens = estimate_tokens(prefix)
    first = client.converse(modelId=SONNET_45, **cached_request(prefix, "question one"))
    output = first["usage"]["outputTokens"]
    assert first["usage"] == expected_usage(estimate_tokens("question one"), output, write=prefix_tokens)

    second = client.converse_stream(modelId=SONNET_45, **cached_request(prefix, "question two"))
    usage = collect(second)[-1]["metadata"]["usage"]
    assert usage == expected_usage(estimate_tokens("question two"), usage["outputTokens"], read=prefix_tokens)

    other_model = client.converse(modelId=HAIKU_45_PROFILE, **cached_request(prefix, "question one"))
    assert other_model["usage"]["cacheWriteInputTokens"] == prefix_tokens  # caches are per model


def test_prompt_cache_reads_the_longest_cached_prefix_and_writes_the_rest(client: Any) -> None:
    system = "Rules. " * 700  # ~1225 tokens
    history = "Earlier conversation. " * 300  # ~1650 tokens
    client.converse(modelId=SONNET_45, **cached_request(system, "q1"))
    response = client.converse(
        modelId=SONNET_45,
        system=[{"text": system}, {"cachePoint": {"type": "default"}}],
        messages=[
            {"role": "user", "content": [{"text": history}, {"cachePoint": {"type": "default"}}, {"text": "q2"}]}
        ],
    )
    usage = response["usage"]
    assert usage["cacheReadInputTokens"] == estimate_tokens(system)
    assert usage["cacheWriteInputTokens"] == estimate_tokens(history)
    assert usage["inputTokens"] == estimate_tokens("q2")


def test_prefix_below_minimum_caches_nothing(client: Any) -> None:
    for _ in range(2):
        response = client.converse(modelId=SONNET_45, **cached_request("short system prompt", "hi"))
        assert response["usage"]["cacheWriteInputTokens"] == 0
        assert response["usage"]["cacheReadInputTokens"] == 0
        assert response["usage"]["inputTokens"] == estimate_tokens("short system prompt") + estimate_tokens("hi")


def test_reset_clears_the_prompt_cache(emulator: EmulatorServer, client: Any) -> None:
    prefix = "Cache me. " * 500
    client.converse(modelId=SONNET_45, **cached_request(prefix, "a"))
    emulator.reset()
    again = client.converse(modelId=SONNET_45, **cached_request(prefix, "a"))
    assert again["usage"]["cacheWriteInputTokens"] == estimate_tokens(prefix)


# -- CountTokens -----------------------------------------------------------------


def test_count_tokens_counts_everything_without_caching(client: Any) -> None:
    prefix = "Count me. " * 500
    request = cached_request(prefix, "and this")
    result = client.count_tokens(modelId=SONNET_45, input={"converse": request})
    assert result["inputTokens"] == estimate_tokens(prefix) + estimate_tokens("and this")
    converse = client.converse(modelId=SONNET_45, **request)["usage"]
    assert converse["inputTokens"] + converse["cacheWriteInputTokens"] == result["inputTokens"]


def test_count_tokens_refuses_inference_profile_ids(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException, match="inference profile"):
        client.count_tokens(modelId=HAIKU_45_PROFILE, input={"converse": {"messages": user("hi")}})


# -- control API, recording, HTTP details ----------------------------------------


def test_requests_are_recorded_with_bodies_and_headers(emulator: EmulatorServer, control: Any, client: Any) -> None:
    client.converse(modelId=SONNET_45, messages=user("record me"), inferenceConfig={"maxTokens": 50})
    client.count_tokens(modelId=SONNET_45, input={"converse": {"messages": user("count me")}})
    status, recorded = control("GET", "requests")
    assert status == 200
    first, second = recorded["requests"]
    assert first["operation"] == "converse"
    assert first["model_id"] == SONNET_45  # percent-decoded from the path
    assert first["body"] == {"messages": user("record me"), "inferenceConfig": {"maxTokens": 50}}
    assert "authorization" not in first["headers"]
    assert first["headers"]["content-type"] == "application/json"
    assert first["time"] > 0
    assert second["operation"] == "count-tokens"
    assert emulator.requests() == recorded["requests"]


def test_recorded_requests_are_kept_out_of_the_garbage_collectors_sight(emulator: EmulatorServer, client: Any) -> None:
    """A long chat's request is thousands of dicts and lists: kept as one bytes object each, a full
    collection in the emulator does not scan them (it paused the emulator ~50 ms per collection)."""
    import gc

    client.converse(modelId=SONNET_45, messages=user("record me"), inferenceConfig={"maxTokens": 50})

    stored = list(emulator._state._requests)
    assert stored and not any(gc.is_tracked(entry) for entry in stored)
    assert emulator.requests()[0]["body"]["messages"] == user("record me")


def test_image_bytes_are_recorded_as_base64(emulator: EmulatorServer, client: Any) -> None:
    content = [{"text": "see"}, {"image": {"format": "png", "source": {"bytes": png(2, 2)}}}]
    client.converse(modelId=SONNET_45, messages=[{"role": "user", "content": content}])
    recorded = emulator.requests()[0]["body"]["messages"][0]["content"][1]["image"]["source"]["bytes"]
    assert isinstance(recorded, str)


def test_reset_over_http_clears_rules_and_requests(control: Any, client: Any) -> None:
    control("POST", "rules", {"match": "x", "response": {"text": "scripted"}})
    client.converse(modelId=SONNET_45, messages=user("x"))
    assert control("POST", "reset", {}) == (200, {})
    assert control("GET", "requests") == (200, {"requests": []})
    reply = client.converse(modelId=SONNET_45, messages=user("x"))["output"]["message"]["content"][0]["text"]
    assert reply == "".join(default_reply_tokens("x"))


def test_health(control: Any) -> None:
    assert control("GET", "health") == (200, {"status": "ok"})


def test_unknown_operation_is_404(http: Any) -> None:
    response = http("POST", f"/model/{SONNET_45}/invoke", b"{}")
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_invalid_json_body_is_a_validation_error(http: Any) -> None:
    response = http("POST", f"/model/{SONNET_45}/converse", b"{nope")
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert response.json()["message"]


def raw_request(path: str, body: bytes, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{connection}\r\n"
    return head.encode() + body


def test_keep_alive_and_connection_close(emulator: EmulatorServer) -> None:
    body = json.dumps({"messages": user("hi [[emu:tokens=1]]")}).encode()
    path = f"/model/{SONNET_45}/converse"
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(raw_request(path, body) + raw_request(path, body, close=True))
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the second answer
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert b"Connection: close" in received.split(b"HTTP/1.1 200 OK")[2]


def test_model_id_in_path_is_percent_decoded(emulator: EmulatorServer, client: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    client.converse(modelId=arn, messages=user("hi"))
    assert emulator.requests()[0]["model_id"] == arn


def test_client_error_carries_request_id(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.converse(modelId=SONNET_45, messages=user("[[emu:throttle]]"))
    assert caught.value.response["ResponseMetadata"]["RequestId"]
