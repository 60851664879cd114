"""Encoder for the AWS event-stream binary framing used by ConverseStream.

Frame layout (all integers big-endian)::

    total length (u32) | headers length (u32) | prelude CRC32 (u32)
    headers | payload | message CRC32 (u32)

The prelude CRC covers the first 8 bytes; the message CRC covers every byte
before it, prelude CRC included.  CRCs are standard CRC-32 (``zlib.crc32``).
Each header is ``name length (u8) | name | type (u8) | value``; Bedrock only
uses type 7 (string: ``u16 length | UTF-8``), so that is the only type this
encoder writes.

Three frame kinds exist (see ``botocore/eventstream.py`` and
``BaseEventStreamParser`` in ``botocore/parsers.py``):

* event: ``:message-type: event`` + ``:event-type`` + JSON payload;
* modeled exception: ``:message-type: exception`` + ``:exception-type``
  (lower-camel member name, e.g. ``throttlingException``) + JSON payload;
* unmodeled error: ``:message-type: error`` + ``:error-code`` +
  ``:error-message`` and an empty payload.

Every JSON payload carries a top-level padding field ``"p"`` of random length,
as real Bedrock does to hide token lengths; botocore drops unknown keys at
that level, and consumers must too.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_CRC = struct.Struct(">I")
_HEADER_TYPE_STRING = 7
_PRELUDE_LENGTH = 12
_MESSAGE_CRC_LENGTH = 4

# Real Bedrock pads with a prefix of this alphabet ("abcdef...").
_PAD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_pad_random = random.Random()


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Encode string headers (type 7) in the event-stream header format."""
    parts = []
    for name, value in headers.items():
        name_bytes = name.encode("utf-8")
        value_bytes = value.encode("utf-8")
        parts.append(
            struct.pack(">B", len(name_bytes))
            + name_bytes
            + struct.pack(">BH", _HEADER_TYPE_STRING, len(value_bytes))
            + value_bytes
        )
    return b"".join(parts)


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Return one complete event-stream frame (prelude, headers, payload, CRCs)."""
    header_bytes = encode_headers(headers)
    total = _PRELUDE_LENGTH + len(header_bytes) + len(payload) + _MESSAGE_CRC_LENGTH
    prelude = struct.pack(">II", total, len(header_bytes))
    prelude += _CRC.pack(zlib.crc32(prelude))
    body = prelude + header_bytes + payload
    return body + _CRC.pack(zlib.crc32(body))


def padding() -> str:
    """A random-length padding string, like the ``p`` field Bedrock sends."""
    return _PAD_ALPHABET[: _pad_random.randint(1, len(_PAD_ALPHABET))]


def _json_payload(body: Mapping[str, Any]) -> bytes:
    padded = dict(body)
    padded["p"] = padding()
    return json.dumps(padded, separators=(",", ":")).encode("utf-8")


def event_frame(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An ``event`` frame whose JSON payload is ``body`` plus the ``p`` padding."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, _json_payload(body))


def exception_frame(exception_type: str, body: Mapping[str, Any]) -> bytes:
    """A modeled ``exception`` frame, e.g. ``throttlingException``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, _json_payload(body))


def error_frame(error_code: str, error_message: str) -> bytes:
    """An unmodeled ``error`` frame: code and message in headers, empty payload."""
    headers = {
        ":error-code": error_code,
        ":error-message": error_message,
        ":message-type": "error",
    }
    return encode_frame(headers, b"")


def http_chunk(data: bytes) -> bytes:
    """Wrap ``data`` as one HTTP/1.1 chunk (``Transfer-Encoding: chunked``)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
