"""Event payloads: the token delta's shortcut writes what the JSON encoder writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.streaming.sse import _ENCODER, encode_event, encode_json


@given(st.text())
def test_a_delta_is_encoded_as_the_json_encoder_encodes_it(text: str) -> None:
    # Any text: quotes, backslashes, control characters, non-ASCII, lone surrogates.
    assert encode_json({"text": text}) == _ENCODER.encode({"text": text})


@given(st.text())
def test_a_delta_reads_back_as_its_text(text: str) -> None:
    assert json.loads(encode_json({"text": text})) == {"text": text}


def test_other_payloads_go_through_the_encoder() -> None:
    for data in (
        {"text": 1},
        {"text": None},
        {"text": "a", "phase": "rewrite"},
        {"code": "x"},
        {},
        {"text": ["a"]},
    ):
        assert encode_json(data) == _ENCODER.encode(data)


def test_an_event_frame() -> None:
    assert (
        encode_event(3, "delta", {"text": 'Hé "x"\n'})
        == 'id: 3\nevent: delta\ndata: {"text":"Hé \\"x\\"\\n"}\n\n'.encode()
    )


def test_a_delta_does_not_go_through_the_encoder(monkeypatch):
    """The shortcut is taken: a token's payload never builds the encoder's per-call state."""

    class Refusing:
        def encode(self, data: object) -> str:
            raise AssertionError(f"encoded through JSONEncoder: {data!r}")

    monkeypatch.setattr("backend.streaming.sse._ENCODER", Refusing())
    assert encode_json({"text": 'a "b"\n'}) == '{"text":"a \\"b\\"\\n"}'
    with pytest.raises(AssertionError):
        encode_json({"text": "a", "phase": "rewrite"})
