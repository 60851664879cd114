"""Validation parity: each Bedrock rule answers ValidationException (HTTP 400) before any stream."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from backend.llm.emulator import estimate_tokens
from backend.llm.emulator.media import ImageInfo, image_info
from backend.llm.emulator.validation import MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_46 = "global.anthropic.claude-sonnet-4-6"
OPUS_46 = "anthropic.claude-opus-4-6-v1"
HAIKU_45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
OPUS_41 = "us.anthropic.claude-opus-4-1-20250805-v1:0"


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(width: int = 4, height: int = 4) -> bytes:
    return encode(Image.new("RGB", (width, height)), "PNG")


def text(value: str) -> dict[str, Any]:
    return {"text": value}


def image(data: bytes, fmt: str = "png") -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def document(name: str = "notes", data: bytes = b"hello", fmt: str = "txt") -> dict[str, Any]:
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def user(*content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def assistant(*content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(content)}


@pytest.fixture(scope="module")
def loose_client(make_client: Any) -> Any:
    """A client that skips botocore's own parameter checks, so the emulator's are exercised."""
    return make_client(parameter_validation=False)


def rejected(client: Any, match: str, model: str = SONNET_45, **request: Any) -> None:
    for call in (client.converse, client.converse_stream):
        with pytest.raises(client.exceptions.ValidationException, match=match) as caught:
            call(modelId=model, **request)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def accepted(client: Any, model: str = SONNET_45, **request: Any) -> None:
    assert client.converse(modelId=model, **request)["output"]["message"]["role"] == "assistant"


# -- conversation shape ----------------------------------------------------------


def test_messages_must_be_a_non_empty_list(loose_client: Any) -> None:
    rejected(loose_client, "non-empty list", messages=[])
    rejected(loose_client, "non-empty list", system=[text("only a system prompt")])


def test_first_message_must_be_from_the_user(loose_client: Any) -> None:
    rejected(loose_client, "start with a user message", messages=[assistant(text("hi")), user(text("hi"))])


def test_roles_must_alternate(loose_client: Any) -> None:
    rejected(loose_client, "alternate", messages=[user(text("a")), user(text("b"))])


def test_role_must_be_user_or_assistant(loose_client: Any) -> None:
    rejected(loose_client, "role", messages=[{"role": "system", "content": [text("x")]}])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ([], "content must be a non-empty list"),
        ([{"text": "a", "image": {}}], "exactly one member"),
        ([{"text": 5}], "must be a string"),
    ],
)
def test_content_blocks_are_single_known_members(loose_client: Any, content: list[Any], match: str) -> None:
    rejected(loose_client, match, messages=[{"role": "user", "content": content}])


def raw_converse(http: Any, body: dict[str, Any]) -> tuple[int, str, str]:
    """POST a body botocore would refuse to serialise; returns (status, error type, message)."""
    response = http("POST", f"/model/{SONNET_45}/converse", json.dumps(body).encode())
    return response.status, response.headers["x-amzn-ErrorType"], response.json()["message"]


def test_unknown_members_are_rejected(http: Any) -> None:
    status, error_type, message = raw_converse(http, {"messages": [{"role": "user", "content": [{"sticker": {}}]}]})
    assert (status, error_type.split(":")[0]) == (400, "ValidationException")
    assert "unknown member 'sticker'" in message
    system = {"system": [{"image": {}}], "messages": [user(text("hi"))]}
    assert "system.0 has unknown member 'image'" in raw_converse(http, system)[2]


def test_system_text_must_not_be_empty(loose_client: Any) -> None:
    rejected(loose_client, "system.0.text", system=[text("")], messages=[user(text("hi"))])


def test_cache_point_type(loose_client: Any) -> None:
    rejected(loose_client, "cachePoint", messages=[user(text("hi"), {"cachePoint": {"type": "forever"}})])
    accepted(loose_client, messages=[user(text("hi"), {"cachePoint": {"type": "default", "ttl": "1h"}})])


# -- images ----------------------------------------------------------------------


def test_images_only_in_user_messages(loose_client: Any) -> None:
    messages = [user(text("a")), assistant(image(png())), user(text("b"))]
    rejected(loose_client, "only allowed in user messages", messages=messages)


def test_at_most_twenty_images(client: Any) -> None:
    accepted(client, messages=[user(text("look"), *[image(png())] * 20)])
    rejected(client, "Too many images", messages=[user(text("look"), *[image(png())] * 21)])


def test_image_size_limit_is_3_75_mb(client: Any) -> None:
    header = png(1, 1)
    at_limit = header + b"\0" * (MAX_IMAGE_BYTES - len(header))  # trailing bytes after the PNG are ignored
    accepted(client, messages=[user(text("look"), image(at_limit))])
    rejected(client, "exceeds the maximum of 3.75 MB", messages=[user(text("look"), image(at_limit + b"\0"))])


def test_image_dimension_limit_is_8000_px(client: Any) -> None:
    accepted(client, messages=[user(text("look"), image(png(8000, 1)))])
    rejected(client, "8001x1 exceed 8000x8000", messages=[user(text("look"), image(png(8001, 1)))])
    rejected(client, "1x8001 exceed", messages=[user(text("look"), image(png(1, 8001)))])


def test_image_format_must_match_the_data(client: Any) -> None:
    jpeg = encode(Image.new("RGB", (4, 4)), "JPEG")
    rejected(client, "data is jpeg but the format says png", messages=[user(text("look"), image(jpeg, "png"))])
    rejected(client, "could not process image", messages=[user(text("look"), image(b"not an image"))])
    accepted(client, messages=[user(text("look"), image(jpeg, "jpeg"))])


def test_image_format_enum(loose_client: Any) -> None:
    rejected(loose_client, "format must be one of", messages=[user(text("look"), image(png(), "bmp"))])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(33, 17), ImageInfo("png", 33, 17)),
        (encode(Image.new("RGB", (33, 17)), "GIF"), ImageInfo("gif", 33, 17)),
        (encode(Image.new("RGB", (33, 17)), "JPEG"), ImageInfo("jpeg", 33, 17)),
        (encode(Image.new("RGB", (33, 17)), "JPEG", progressive=True), ImageInfo("jpeg", 33, 17)),
        (encode(Image.new("RGB", (33, 17)), "WEBP"), ImageInfo("webp", 33, 17)),
        (encode(Image.new("RGB", (33, 17)), "WEBP", lossless=True), ImageInfo("webp", 33, 17)),
        (encode(Image.new("RGBA", (33, 17)), "WEBP", exif=b"Exif\0\0"), ImageInfo("webp", 33, 17)),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"\xff\xd8\xff", None),
        (b"", None),
    ],
)
def test_image_header_parsing(data: bytes, expected: ImageInfo | None) -> None:
    assert image_info(data) == expected


# -- documents -------------------------------------------------------------------


def test_document_needs_a_text_block_in_its_message(client: Any) -> None:
    rejected(client, "must also contain a text block", messages=[user(document())])
    accepted(client, messages=[user(document(), text("summarise"))])


def test_documents_only_in_user_messages(loose_client: Any) -> None:
    messages = [user(text("a")), assistant(text("b"), document()), user(text("c"))]
    rejected(loose_client, "only allowed in user messages", messages=messages)


def test_at_most_five_documents(client: Any) -> None:
    docs = [document(f"doc {i}") for i in range(6)]
    accepted(client, messages=[user(text("read"), *docs[:5])])
    rejected(client, "Too many documents", messages=[user(text("read"), *docs)])


def test_document_size_limit_is_4_5_mb(client: Any) -> None:
    accepted(client, messages=[user(text("read"), document(data=b"a" * MAX_DOCUMENT_BYTES))])
    rejected(
        client,
        "exceeds the maximum of 4.5 MB",
        messages=[user(text("read"), document(data=b"a" * (MAX_DOCUMENT_BYTES + 1)))],
    )


@pytest.mark.parametrize("name", ["report.pdf", "two  spaces", "under_score", " leading", "x" * 201, ""])
def test_document_name_rules(loose_client: Any, name: str) -> None:
    rejected(loose_client, "name must be", messages=[user(text("read"), document(name))])


def test_document_name_allowed_characters(client: Any) -> None:
    accepted(client, messages=[user(text("read"), document("Quarterly report-2 (v2) [final]"))])


def test_document_format_enum(loose_client: Any) -> None:
    rejected(loose_client, "format must be one of", messages=[user(text("read"), document(fmt="exe"))])


# -- inference configuration and model-specific rules ----------------------------


def test_max_tokens_bounds(loose_client: Any) -> None:
    messages = [user(text("hi"))]
    rejected(loose_client, "at least 1", messages=messages, inferenceConfig={"maxTokens": 0})
    rejected(loose_client, "model limit of 64000", messages=messages, inferenceConfig={"maxTokens": 64001})
    accepted(loose_client, messages=messages, inferenceConfig={"maxTokens": 64000})


@pytest.mark.parametrize("model", [SONNET_45, HAIKU_45, "anthropic.claude-opus-4-5-20251101-v1:0", SONNET_46, OPUS_46])
def test_temperature_and_top_p_together_rejected_on_claude_4_5_and_newer(client: Any, model: str) -> None:
    config = {"temperature": 0.5, "topP": 0.9}
    rejected(client, "cannot both be specified", model=model, messages=[user(text("hi"))], inferenceConfig=config)
    accepted(client, model=model, messages=[user(text("hi"))], inferenceConfig={"temperature": 0.5})


@pytest.mark.parametrize("model", [SONNET_4, OPUS_41, "anthropic.claude-3-7-sonnet-20250219-v1:0"])
def test_temperature_and_top_p_together_allowed_on_older_models(client: Any, model: str) -> None:
    accepted(client, model=model, messages=[user(text("hi"))], inferenceConfig={"temperature": 0.5, "topP": 0.9})


def test_sampling_ranges(loose_client: Any) -> None:
    rejected(loose_client, "between 0 and 1", messages=[user(text("hi"))], inferenceConfig={"temperature": 1.5})


@pytest.mark.parametrize("model", [SONNET_46, OPUS_46, "us.anthropic.claude-opus-4-7"])
def test_assistant_prefill_rejected_on_claude_4_6_and_newer(client: Any, model: str) -> None:
    messages = [user(text("hi")), assistant(text("Sure, "))]
    rejected(client, "prefill", model=model, messages=messages)


def test_assistant_prefill_allowed_on_claude_4_5(client: Any) -> None:
    accepted(client, model=SONNET_45, messages=[user(text("hi")), assistant(text("Sure, "))])


# -- tools -----------------------------------------------------------------------


def tool(name: str) -> dict[str, Any]:
    return {"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}}


def test_tool_names_must_match_the_pattern(loose_client: Any) -> None:
    messages = [user(text("hi"))]
    for name in ["has space", "dot.ted", "x" * 65, ""]:
        rejected(loose_client, "must match", messages=messages, toolConfig={"tools": [tool(name)]})
    accepted(loose_client, messages=messages, toolConfig={"tools": [tool("get_weather-2")]})


def test_tools_must_be_non_empty_and_unique(loose_client: Any) -> None:
    messages = [user(text("hi"))]
    rejected(loose_client, "non-empty list", messages=messages, toolConfig={"tools": []})
    rejected(loose_client, "unique", messages=messages, toolConfig={"tools": [tool("a"), tool("a")]})


def test_tool_choice_must_name_a_defined_tool(client: Any) -> None:
    config = {"tools": [tool("a")], "toolChoice": {"tool": {"name": "b"}}}
    rejected(client, "toolChoice", messages=[user(text("hi"))], toolConfig=config)


def test_tool_use_blocks_need_a_valid_name(loose_client: Any) -> None:
    messages = [
        user(text("hi")),
        assistant({"toolUse": {"toolUseId": "t1", "name": "bad name", "input": {}}}),
        user({"toolResult": {"toolUseId": "t1", "content": [text("ok")]}}),
    ]
    rejected(loose_client, "must match", messages=messages)


# -- CountTokens -----------------------------------------------------------------


def test_count_tokens_validates_its_messages(loose_client: Any) -> None:
    with pytest.raises(loose_client.exceptions.ValidationException, match="alternate"):
        loose_client.count_tokens(
            modelId=SONNET_45, input={"converse": {"messages": [user(text("a")), user(text("b"))]}}
        )


def test_count_tokens_invoke_model_input(client: Any) -> None:
    body = '{"messages": [{"role": "user", "content": "hello"}]}'
    result = client.count_tokens(modelId=SONNET_45, input={"invokeModel": {"body": body}})
    assert result["inputTokens"] == estimate_tokens(body)
