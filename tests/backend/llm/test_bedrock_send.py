"""`bedrock.send` sends what the aiobotocore client sends for the same call, and returns what it returns.

Both paths run against the emulator over HTTP; a `before-send` hook on the client records each
attempt as it leaves (after signing), so requests, signatures and retries are compared as sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from backend.llm import bedrock
from backend.llm.errors import FailureKind
from tests.backend.llm.helpers import PRIMARY, comparable_events

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

# Every kind of member `converse_kwargs` writes: blobs, documents (JSON values), floats, cache points.
RICH: dict[str, Any] = {
    "modelId": PRIMARY,
    "system": [{"text": 'Be brief. «Ünïcode» and "quotes" \\ too.'}, {"cachePoint": {"type": "default"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"text": "What is in these? 🌊"},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
                {"document": {"format": "txt", "name": "notes", "source": {"bytes": b"tide tables\n\x00\xff"}}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tu_1", "name": "lookup", "input": {"q": "tides", "n": 2.5}}}],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "high at 6"}], "status": "error"}},
                {"text": "Thanks [[emu:tokens=4]]"},
            ],
        },
    ],
    "inferenceConfig": {"maxTokens": 200, "temperature": 0.3, "stopSequences": ["END"]},
    "toolConfig": {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "description": "Look something up.",
                    "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}},
                }
            }
        ],
        "toolChoice": {"auto": {}},
    },
}

# Headers that differ between any two calls (time, per-call ids) or that are derived from them.
_PER_CALL = {"x-amz-date", "authorization", "amz-sdk-invocation-id"}


class Recorder:
    """Each attempt the client sends: method, URL, headers and body, after signing."""

    def __init__(self, client: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        self.after_calls = 0
        self._client = client
        client.meta.events.register("before-send.bedrock-runtime", self._record)
        client.meta.events.register("after-call.bedrock-runtime", self._after_call)

    def _record(self, request: Any, **kwargs: Any) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        for name, value in headers.items():
            if isinstance(value, bytes):
                headers[name] = value.decode()
        self.sent.append({"method": request.method, "url": request.url, "headers": headers, "body": request.body})

    def _after_call(self, **kwargs: Any) -> None:
        self.after_calls += 1

    def close(self) -> None:
        self._client.meta.events.unregister("before-send.bedrock-runtime", self._record)
        self._client.meta.events.unregister("after-call.bedrock-runtime", self._after_call)


@pytest.fixture
async def recorder():
    client = await bedrock.async_client(stream=True)
    recording = Recorder(client)
    yield recording
    recording.close()


def _comparable(sent: dict[str, Any]) -> dict[str, Any]:
    headers = {name: value for name, value in sent["headers"].items() if name not in _PER_CALL}
    authorization = sent["headers"]["authorization"]
    # "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=..."
    credential, signed_headers, _signature = authorization.split(", ")
    return {
        "method": sent["method"],
        "url": sent["url"],
        "headers": headers,
        "body": sent["body"],
        "credential_scope": credential.split("/", 2)[2],
        "signed_headers": signed_headers,
    }


async def test_the_request_is_the_clients_byte_for_byte_but_for_the_time_and_signature(emulator, recorder):
    client = await bedrock.async_client(stream=True)

    plain = await comparable_events((await client.converse_stream(**RICH))["stream"])
    sent = await comparable_events((await bedrock.send("ConverseStream", RICH, stream=True))["stream"])

    assert len(recorder.sent) == 2
    by_client, by_send = (_comparable(request) for request in recorder.sent)
    assert by_send == by_client
    body = json.loads(by_send["body"])
    assert base64.b64decode(body["messages"][0]["content"][1]["image"]["source"]["bytes"]) == PNG
    assert "modelId" not in body
    assert sent == plain
    assert any("contentBlockDelta" in event for event in sent)


@pytest.mark.parametrize(
    "model_id",
    [
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6",
    ],
)
async def test_model_ids_are_escaped_in_the_url_as_the_client_escapes_them(emulator, recorder, model_id):
    client = await bedrock.async_client(stream=True)
    kwargs = {"modelId": model_id, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}

    for call in (client.converse_stream(**kwargs), bedrock.send("ConverseStream", kwargs, stream=True)):
        with contextlib.suppress(ClientError):  # an unknown model is a 4xx; the URL was sent either way
            (await call)["stream"].close()

    by_client, by_send = (request["url"] for request in recorder.sent)
    assert by_send == by_client
    assert "%3A" in by_send  # the id is one path segment: its colons (and an ARN's slash) escaped


async def test_converse_returns_what_the_client_returns(emulator):
    client = await bedrock.async_client(stream=False)
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": "Hello [[emu:tokens=5]]"}]}]}

    plain = await client.converse(**kwargs)
    sent = await bedrock.send("Converse", kwargs, stream=False)

    for response in (plain, sent):
        response["metrics"].pop("latencyMs")
        response["ResponseMetadata"].pop("RequestId", None)
        response["ResponseMetadata"].pop("HTTPHeaders")
    assert sent == plain
    assert bedrock.parse_converse_response(sent)[0]


@pytest.mark.parametrize(
    ("directive", "code", "attempts"),
    [
        ("[[emu:throttle]]", "ThrottlingException", 2),  # retried once (standard mode), then raised
        ("[[emu:unavailable]]", "ServiceUnavailableException", 2),
        ("[[emu:error=ValidationException]]", "ValidationException", 1),  # never retried
        ("[[emu:error=ModelErrorException]]", "ModelErrorException", 1),
    ],
)
async def test_errors_are_the_clients_exceptions_after_the_clients_retries(
    emulator, recorder, settings, directive, code, attempts
):
    client = await bedrock.async_client(stream=True)
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": f"hi {directive}"}]}]}

    raised = []
    for call in (client.converse_stream(**kwargs), bedrock.send("ConverseStream", kwargs, stream=True)):
        with pytest.raises(ClientError) as error:
            await call
        raised.append(error.value)

    by_client, by_send = raised
    assert type(by_send) is type(by_client)
    assert by_send.response["Error"] == by_client.response["Error"]
    assert by_send.response["Error"]["Code"] == code
    assert len(recorder.sent) == 2 * attempts
    assert bedrock.classify(by_send, model_id=PRIMARY).kind is bedrock.classify(by_client, model_id=PRIMARY).kind


async def test_a_successful_call_gives_back_the_retry_quota_like_the_client(emulator, recorder):
    """The standard retry handler releases retry quota on `after-call`; `send` emits it too."""
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": "hi [[emu:tokens=1]]"}]}]}

    (await bedrock.send("ConverseStream", kwargs, stream=True))["stream"].close()

    assert recorder.after_calls == 1


async def test_the_endpoint_is_resolved_once_per_model(emulator, monkeypatch):
    client = await bedrock.async_client(stream=True)
    resolved: list[str] = []
    original = client._resolve_endpoint_ruleset

    async def counting(operation: Any, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        resolved.append(params["modelId"])
        return await original(operation, params, *args, **kwargs)

    monkeypatch.setattr(client, "_resolve_endpoint_ruleset", counting)
    for model_id in (PRIMARY, PRIMARY, "us.anthropic.claude-haiku-4-5-20251001-v1:0", PRIMARY):
        kwargs = {"modelId": model_id, "messages": [{"role": "user", "content": [{"text": "hi [[emu:tokens=1]]"}]}]}
        events = await comparable_events((await bedrock.send("ConverseStream", kwargs, stream=True))["stream"])
        assert any("messageStop" in event for event in events)

    assert resolved == [PRIMARY, "us.anthropic.claude-haiku-4-5-20251001-v1:0"]


async def test_a_broken_stream_is_classified_like_the_clients(emulator):
    kwargs = {
        "modelId": PRIMARY,
        "messages": [{"role": "user", "content": [{"text": "[[emu:tokens=5]] [[emu:drop@2]]"}]}],
    }
    client = await bedrock.async_client(stream=True)

    kinds = []
    for call in (client.converse_stream(**kwargs), bedrock.send("ConverseStream", kwargs, stream=True)):
        stream = bedrock.DeltaFastStream((await call)["stream"])
        with pytest.raises(aiohttp.ClientPayloadError) as broken:
            async for _event in stream:
                pass
        kinds.append(bedrock.classify(broken.value, model_id=PRIMARY, after_content=True).kind)

    assert kinds[0] is kinds[1] is FailureKind.UNAVAILABLE


async def test_a_stubbed_client_answers_send_as_it_answers_the_client(emulator):
    """`before-call` runs as in the client's path: botocore's Stubber (which answers there) works."""
    from aiobotocore.stub import AioStubber

    client = await bedrock.async_client(stream=False)
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": "Hello"}]}]}
    reply = {
        "output": {"message": {"role": "assistant", "content": [{"text": "stubbed"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
        "metrics": {"latencyMs": 1},
    }

    with AioStubber(client) as stubber:
        stubber.add_response("converse", reply)
        stubber.add_response("converse", reply)
        by_client = await client.converse(**kwargs)
        by_send = await bedrock.send("Converse", kwargs, stream=False)
        stubber.assert_no_pending_responses()

    assert by_send == by_client
    assert bedrock.parse_converse_response(by_send)[0][0].text == "stubbed"
    assert not emulator.requests()  # nothing went over the wire


async def test_an_operation_with_a_per_call_trait_takes_the_clients_whole_path(emulator, monkeypatch):
    """A request checksum (or compression) is applied per call by the client: no template then."""
    from botocore.model import OperationModel

    monkeypatch.setattr(OperationModel, "http_checksum", {"requestChecksumRequired": True})
    client = await bedrock.async_client(stream=False)
    through_client: list[dict[str, Any]] = []
    original = client.converse

    async def converse(**kwargs: Any) -> Any:
        through_client.append(kwargs)
        return await original(**kwargs)

    monkeypatch.setattr(client, "converse", converse)
    kwargs = {"modelId": PRIMARY, "messages": [{"role": "user", "content": [{"text": "Hello [[emu:tokens=2]]"}]}]}

    response = await bedrock.send("Converse", kwargs, stream=False)

    assert through_client == [kwargs]
    assert bedrock.parse_converse_response(response)[0]
