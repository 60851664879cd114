"""Scripted faults as boto3 really sees them: HTTP errors, exception frames, drops, stalls, truncation."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EventStreamError
from botocore.exceptions import ReadTimeoutError as BotocoreReadTimeoutError

from backend.llm.emulator import EmulatorServer, default_reply_tokens

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU_45_PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def consume(response: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Iterate the stream into ``events`` so a test can inspect what came before an error."""
    for event in response["stream"]:
        events.append(event)


def delta_count(events: list[dict[str, Any]]) -> int:
    return sum("contentBlockDelta" in e for e in events)


# -- HTTP errors before the stream -----------------------------------------------

HTTP_FAULTS = [
    ("[[emu:throttle]]", "ThrottlingException", 429),
    ("[[emu:unavailable]]", "ServiceUnavailableException", 503),
    ("[[emu:error=ModelTimeoutException]]", "ModelTimeoutException", 408),
    ("[[emu:error=ModelErrorException]]", "ModelErrorException", 424),
    ("[[emu:error=ModelNotReadyException]]", "ModelNotReadyException", 429),
    ("[[emu:error=InternalServerException]]", "InternalServerException", 500),
    ("[[emu:error=ValidationException]]", "ValidationException", 400),
    ("[[emu:error=AccessDeniedException]]", "AccessDeniedException", 403),
    ("[[emu:error=ResourceNotFoundException]]", "ResourceNotFoundException", 404),
    ("[[emu:error=ServiceQuotaExceededException]]", "ServiceQuotaExceededException", 400),
]


@pytest.mark.parametrize(("directive", "code", "status"), HTTP_FAULTS)
@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_http_fault_maps_to_the_modeled_exception(
    client: Any, operation: str, directive: str, code: str, status: int
) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(modelId=SONNET_45, messages=user(f"hi {directive}"))
    assert isinstance(caught.value, getattr(client.exceptions, code))
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize(
    ("directive", "retried"),
    [("[[emu:throttle]]", True), ("[[emu:unavailable]]", True), ("[[emu:error=ModelTimeoutException]]", False)],
)
def test_standard_retry_mode_retries_only_throttling_and_5xx(
    emulator: EmulatorServer, make_client: Any, directive: str, retried: bool
) -> None:
    client = make_client(retries={"mode": "standard", "max_attempts": 1})  # one retry
    with pytest.raises(ClientError) as caught:
        client.converse(modelId=SONNET_45, messages=user(directive))
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == int(retried)
    assert len(emulator.requests()) == 1 + int(retried)


# -- in-stream faults ------------------------------------------------------------

STREAM_EXCEPTIONS = [
    "throttlingException",
    "modelStreamErrorException",
    "internalServerException",
    "validationException",
    "serviceUnavailableException",
]


@pytest.mark.parametrize("code", STREAM_EXCEPTIONS)
def test_midstream_exception_frame_raises_event_stream_error(client: Any, code: str) -> None:
    response = client.converse_stream(
        modelId=SONNET_45, messages=user(f"hi [[emu:tokens=10]] [[emu:midstream_error={code}@3]]")
    )
    events: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as caught:
        consume(response, events)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["Error"]["Message"]
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert delta_count(events) == 3


def test_midstream_error_after_the_last_delta_replaces_content_block_stop(client: Any) -> None:
    response = client.converse_stream(
        modelId=SONNET_45, messages=user("[[emu:tokens=2]] [[emu:midstream_error=throttlingException@5]]")
    )
    events: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError):
        consume(response, events)
    assert delta_count(events) == 2
    assert not any("contentBlockStop" in e for e in events)


def test_unmodeled_error_frame(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:midstream_error=error@1]]"))
    events: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as caught:
        consume(response, events)
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert delta_count(events) == 1


def test_connection_reusable_after_an_exception_frame(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:midstream_error=throttlingException@0]]"))
    with pytest.raises(EventStreamError):
        consume(response, [])
    assert client.converse(modelId=SONNET_45, messages=user("again"))["stopReason"] == "end_turn"


def test_drop_breaks_the_connection_mid_frame(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:tokens=5]] [[emu:drop@2]]"))
    events: list[dict[str, Any]] = []
    with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
        consume(response, events)
    assert delta_count(events) == 2


def test_stall_hits_the_read_timeout(make_client: Any) -> None:
    client = make_client(read_timeout=1)
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:tokens=5]] [[emu:stall@1]]"))
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        consume(response, events)
    assert time.monotonic() - started < 3
    assert delta_count(events) == 1


def test_truncate_ends_the_stream_without_stop_events(client: Any) -> None:
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:tokens=5]] [[emu:truncate@3]]"))
    events = list(response["stream"])
    assert delta_count(events) == 3
    assert not any(key in e for e in events for key in ("contentBlockStop", "messageStop", "metadata"))


def test_non_streaming_drop_stall_and_truncate(make_client: Any) -> None:
    client = make_client(read_timeout=1)
    with pytest.raises(ConnectionClosedError):
        client.converse(modelId=SONNET_45, messages=user("[[emu:drop@1]]"))
    with pytest.raises(BotocoreReadTimeoutError):
        client.converse(modelId=SONNET_45, messages=user("[[emu:stall@1]]"))
    with pytest.raises(client.exceptions.InternalServerException):
        client.converse(modelId=SONNET_45, messages=user("[[emu:truncate@1]]"))
    with pytest.raises(client.exceptions.InternalServerException):
        client.converse(modelId=SONNET_45, messages=user("[[emu:midstream_error=throttlingException@1]]"))


def test_stop_cancels_stalled_streams_promptly() -> None:
    server = EmulatorServer().start()
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(read_timeout=30, retries={"total_max_attempts": 1}),
    )
    response = client.converse_stream(modelId=SONNET_45, messages=user("[[emu:stall@0]]"))
    stream = iter(response["stream"])
    assert next(stream) == {"messageStart": {"role": "assistant"}}
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: outcome.extend(_error_of(lambda: list(stream))))
    reader.start()
    started = time.monotonic()
    server.stop()
    reader.join(5)
    assert time.monotonic() - started < 3
    assert not reader.is_alive()
    assert outcome  # the client saw the connection go away instead of waiting 30 s


def _error_of(action: Any) -> list[BaseException]:
    try:
        action()
    except Exception as exc:
        return [exc]
    return []


# -- scoping: models, control-API throttles, rules -------------------------------


def test_model_scoped_directives_only_hit_the_named_model(client: Any) -> None:
    text = "hi [[emu:throttle model=sonnet-4-5]] [[emu:unavailable model=haiku]]"
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=SONNET_45, messages=user(text))
    with pytest.raises(client.exceptions.ServiceUnavailableException):
        client.converse(modelId=HAIKU_45_PROFILE, messages=user(text))
    assert client.converse(modelId="anthropic.claude-opus-4-1-20250805-v1:0", messages=user(text))["output"]


def test_model_scoped_in_stream_fault(client: Any) -> None:
    text = "[[emu:tokens=3]] [[emu:truncate@1 model=haiku]]"
    truncated = list(client.converse_stream(modelId=HAIKU_45_PROFILE, messages=user(text))["stream"])
    complete = list(client.converse_stream(modelId=SONNET_45, messages=user(text))["stream"])
    assert "metadata" not in truncated[-1]
    assert "metadata" in complete[-1]


def test_control_api_throttle_applies_to_one_model(control: Any, client: Any) -> None:
    assert control("POST", "throttle", {"model": SONNET_45, "seconds": 60})[0] == 200
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=SONNET_45, messages=user("hi"))
    with pytest.raises(client.exceptions.ThrottlingException):
        list(client.converse_stream(modelId=SONNET_45, messages=user("hi"))["stream"])
    with pytest.raises(client.exceptions.ThrottlingException):
        client.count_tokens(modelId=SONNET_45, input={"converse": {"messages": user("hi")}})
    assert client.converse(modelId=HAIKU_45_PROFILE, messages=user("hi"))["stopReason"] == "end_turn"


def test_control_api_throttle_expires(emulator: EmulatorServer, client: Any) -> None:
    emulator.throttle(SONNET_45, 0)
    assert client.converse(modelId=SONNET_45, messages=user("hi"))["stopReason"] == "end_turn"


def test_invalid_throttle_request(control: Any) -> None:
    assert control("POST", "throttle", {"model": "", "seconds": 5})[0] == 400
    assert control("POST", "throttle", {"model": "m", "seconds": -1})[0] == 400


def test_fault_rule_keeps_the_default_reply_and_expires(control: Any, client: Any) -> None:
    rule = {"match": "flaky", "model": "sonnet", "response": {"fault": "midstream_error:throttlingException@2"}}
    assert control("POST", "rules", {**rule, "times": 1})[0] == 201
    events: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError):
        consume(client.converse_stream(modelId=SONNET_45, messages=user("flaky call")), events)
    assert delta_count(events) == 2
    second = list(client.converse_stream(modelId=SONNET_45, messages=user("flaky call"))["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in second if "contentBlockDelta" in e)
    assert text == "".join(default_reply_tokens("flaky call"))


def test_http_fault_rule_with_error_code(emulator: EmulatorServer, client: Any) -> None:
    emulator.add_rule({"match": "", "model": "haiku", "response": {"fault": "error:ModelNotReadyException"}})
    with pytest.raises(client.exceptions.ModelNotReadyException):
        client.converse(modelId=HAIKU_45_PROFILE, messages=user("anything"))
    assert client.converse(modelId=SONNET_45, messages=user("anything"))["stopReason"] == "end_turn"


@pytest.mark.parametrize(
    "directive",
    ["[[emu:explode]]", "[[emu:tokens=x]]", "[[emu:throttle@2]]", "[[emu:error=NopeException]]", "[[emu:drop=5]]"],
)
def test_malformed_directive_is_a_validation_error(client: Any, directive: str) -> None:
    with pytest.raises(client.exceptions.ValidationException, match="emulator directive"):
        client.converse(modelId=SONNET_45, messages=user(directive))
