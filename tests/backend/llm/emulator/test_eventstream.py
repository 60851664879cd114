"""The event-stream encoder, checked against botocore's own decoder and parser."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import botocore.session
import pytest
from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from backend.llm.emulator import eventstream as es


def decode(data: bytes) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def parse_converse_stream_event(message: EventStreamMessage) -> dict[str, Any]:
    """What boto3 yields for this frame (or raises), via the real service model."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("ConverseStream").output_shape.members["stream"]
    parsed = EventStreamJSONParser().parse(message.to_response_dict(), shape)
    if message.to_response_dict()["status_code"] != 200:
        raise EventStreamError(parsed, "ConverseStream")
    return parsed


def test_frame_round_trips_with_valid_crcs_and_headers() -> None:
    frame = es.encode_frame({":message-type": "event", "x-name": "välue"}, b'{"a":1}')
    (message,) = decode(frame)  # EventStreamBuffer validates both CRCs
    assert message.headers == {":message-type": "event", "x-name": "välue"}
    assert message.payload == b'{"a":1}'
    total, headers_length = struct.unpack(">II", frame[:8])
    assert total == len(frame)
    assert struct.unpack(">I", frame[8:12])[0] == zlib.crc32(frame[:8])
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    assert headers_length == len(frame) - 16 - len(b'{"a":1}')


def test_frame_with_zero_headers_and_empty_payload() -> None:
    frame = es.encode_frame({}, b"")
    assert len(frame) == 16
    (message,) = decode(frame)
    assert message.headers == {}
    assert message.payload == b""


def test_several_frames_split_anywhere_decode_in_order() -> None:
    frames = b"".join(es.event_frame("contentBlockDelta", {"n": i}) for i in range(5))
    buffer = EventStreamBuffer()
    messages = []
    for offset in range(0, len(frames), 7):  # arbitrary network fragmentation
        buffer.add_data(frames[offset : offset + 7])
        messages.extend(buffer)
    assert [json.loads(m.payload)["n"] for m in messages] == [0, 1, 2, 3, 4]


def test_event_frame_carries_padding_that_botocore_ignores() -> None:
    body = {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
    (message,) = decode(es.event_frame("contentBlockDelta", body))
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    payload = json.loads(message.payload)
    assert payload["p"].isalnum()
    assert parse_converse_stream_event(message) == {"contentBlockDelta": body}


def test_padding_length_varies() -> None:
    assert len({len(es.padding()) for _ in range(200)}) > 5


def test_exception_frame_raises_event_stream_error_with_lower_camel_code() -> None:
    frame = es.exception_frame("throttlingException", {"message": "slow down"})
    (message,) = decode(frame)
    assert message.headers[":message-type"] == "exception"
    with pytest.raises(EventStreamError) as caught:
        parse_converse_stream_event(message)
    assert caught.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}


def test_error_frame_has_empty_payload_and_header_code() -> None:
    (message,) = decode(es.error_frame("InternalFailure", "boom"))
    assert message.payload == b""
    with pytest.raises(EventStreamError) as caught:
        parse_converse_stream_event(message)
    assert caught.value.response["Error"] == {"Code": "InternalFailure", "Message": "boom"}


def test_http_chunk_framing() -> None:
    assert es.http_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert es.LAST_CHUNK == b"0\r\n\r\n"
