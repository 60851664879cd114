"""Request validation with Bedrock parity: every failure is a ValidationException (HTTP 400).

Rules enforced (limits from the ``Message.content`` documentation in
botocore's ``bedrock-runtime`` service model and from observed Bedrock
behaviour):

* the body is a JSON object; ``messages`` is a non-empty list; the first
  message is ``user``; roles alternate;
* each content block has exactly one known union member;
* images: user messages only, at most 20 per request, format png|jpeg|gif|webp
  matching the actual bytes, at most 3.75 MB (3,932,160 bytes) decoded and
  8000 x 8000 px;
* documents: user messages only, at most 5 per request, at most 4.5 MB
  (4,718,592 bytes) decoded, format pdf|csv|doc|docx|xls|xlsx|html|txt|md,
  name of 1..200 alphanumerics, hyphens, parentheses, square brackets and
  single whitespace characters; a message with a document needs a text block;
* ``inferenceConfig.maxTokens`` in 1..max_output_tokens; temperature and topP
  in 0..1, and not both for Claude 4.5 and newer;
* a conversation may not end with an assistant message (prefill) on Claude
  4.6 and newer;
* ``toolConfig.tools`` non-empty, unique tool names matching
  ``^[a-zA-Z0-9_-]{1,64}$``, ``toolChoice.tool.name`` naming a defined tool;
* CountTokens takes a bare foundation-model id, never an inference profile.

Only top-level message blocks are counted against the image/document limits.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from backend.llm.emulator.errors import validation_error
from backend.llm.emulator.media import image_info

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 3_932_160  # 3.75 MiB
MAX_IMAGE_PIXELS_PER_SIDE = 8000
MAX_DOCUMENTS = 5
MAX_DOCUMENT_BYTES = 4_718_592  # 4.5 MiB
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
DOCUMENT_FORMATS = frozenset({"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"})
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "global.")

CONTENT_MEMBERS = frozenset(
    {
        "text", "image", "document", "video", "audio", "toolUse", "toolResult",
        "guardContent", "cachePoint", "reasoningContent", "citationsContent",
        "searchResult", "toolAddition", "toolRemoval",
    }
)  # fmt: skip
SYSTEM_MEMBERS = frozenset({"text", "guardContent", "cachePoint"})
TOOL_MEMBERS = frozenset({"toolSpec", "systemTool", "cachePoint"})

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_DOCUMENT_NAME_PART = r"[A-Za-z0-9\-()\[\]]+"
_DOCUMENT_NAME = re.compile(rf"{_DOCUMENT_NAME_PART}(?:\s{_DOCUMENT_NAME_PART})*")
_CLAUDE_GENERATION = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2})(?!\d))?")


def validate_converse(body: Any, model_id: str, max_output_tokens: int) -> dict[str, Any]:
    """Validate a Converse/ConverseStream body; return it as a dict or raise ApiError."""
    request = _object(body, "The request body")
    messages = _validate_messages(request.get("messages"))
    _validate_system(request.get("system"))
    _validate_tool_config(request.get("toolConfig"))
    _validate_inference_config(request.get("inferenceConfig"), model_id, max_output_tokens)
    if messages[-1]["role"] == "assistant" and _generation(model_id) >= (4, 6):
        raise validation_error(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )
    return request


def validate_count_tokens(body: Any, model_id: str) -> dict[str, Any]:
    """Validate a CountTokens body; return its ``input.converse`` request or raise ApiError.

    ``input.invokeModel`` (a base64 blob) is answered as a Converse request
    whose only message is the decoded body text.
    """
    if model_id.startswith(INFERENCE_PROFILE_PREFIXES):
        raise validation_error(
            f"The provided model identifier is invalid: {model_id}. CountTokens takes a "
            "foundation model id, not an inference profile id."
        )
    token_input = _object(_object(body, "The request body").get("input"), "input")
    member = _single_member(token_input, frozenset({"converse", "invokeModel"}), "input")
    if member == "invokeModel":
        encoded = _object(token_input["invokeModel"], "input.invokeModel").get("body")
        raw = _decode_bytes(encoded, "input.invokeModel.body").decode("utf-8", "replace")
        return {"messages": [{"role": "user", "content": [{"text": raw}]}]}
    request = _object(token_input["converse"], "input.converse")
    _validate_messages(request.get("messages"))
    _validate_system(request.get("system"))
    _validate_tool_config(request.get("toolConfig"))
    return request


def _generation(model_id: str) -> tuple[int, int]:
    """(major, minor) of a Claude model id, e.g. (4, 5); (0, 0) if not recognised."""
    match = _CLAUDE_GENERATION.search(model_id)
    if match is None:
        return (0, 0)
    return (int(match.group(1)), int(match.group(2) or 0))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise validation_error(f"{what} must be a JSON object.")
    return value


def _single_member(value: Any, members: frozenset[str], path: str) -> str:
    """The one member set in a union value; ValidationException otherwise."""
    if not isinstance(value, dict) or len(value) != 1:
        raise validation_error(f"{path} must have exactly one member of {sorted(members)}.")
    (member,) = value
    if member not in members:
        raise validation_error(f"{path} has unknown member {member!r}; expected one of {sorted(members)}.")
    return str(member)


def _validate_messages(messages: Any) -> list[Any]:
    if not isinstance(messages, list) or not messages:
        raise validation_error("messages must be a non-empty list.")
    counts = {"image": 0, "document": 0}
    for index, message in enumerate(messages):
        path = f"messages.{index}"
        role = _object(message, path).get("role")
        if role not in ("user", "assistant"):
            raise validation_error(f"{path}.role must be 'user' or 'assistant'.")
        if index == 0 and role != "user":
            raise validation_error("A conversation must start with a user message.")
        if index > 0 and role == messages[index - 1].get("role"):
            raise validation_error("A conversation must alternate between user and assistant roles.")
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise validation_error(f"{path}.content must be a non-empty list.")
        kinds = [_validate_block(block, f"{path}.content.{j}", role) for j, block in enumerate(content)]
        if "document" in kinds and "text" not in kinds:
            raise validation_error(f"{path}: a message with a document must also contain a text block.")
        for kind in counts:
            counts[kind] += kinds.count(kind)
    if counts["image"] > MAX_IMAGES:
        raise validation_error(f"Too many images: {counts['image']} (at most {MAX_IMAGES}).")
    if counts["document"] > MAX_DOCUMENTS:
        raise validation_error(f"Too many documents: {counts['document']} (at most {MAX_DOCUMENTS}).")
    return messages


def _validate_block(block: Any, path: str, role: str) -> str:
    member = _single_member(block, CONTENT_MEMBERS, path)
    value = block[member]
    if member == "text" and not isinstance(value, str):
        raise validation_error(f"{path}.text must be a string.")
    if member in ("image", "document") and role != "user":
        raise validation_error(f"{path}: {member}s are only allowed in user messages.")
    if member == "image":
        _validate_image(_object(value, f"{path}.image"), f"{path}.image")
    elif member == "document":
        _validate_document(_object(value, f"{path}.document"), f"{path}.document")
    elif member == "cachePoint":
        _validate_cache_point(value, f"{path}.cachePoint")
    elif member == "toolUse":
        _validate_tool_use(_object(value, f"{path}.toolUse"), f"{path}.toolUse")
    return member


def _decode_bytes(value: Any, path: str) -> bytes:
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        raise validation_error(f"{path} is not valid base64.") from None
    if not data:
        raise validation_error(f"{path} must be non-empty base64-encoded bytes.")
    return data


def _validate_image(image: dict[str, Any], path: str) -> None:
    declared = image.get("format")
    if declared not in IMAGE_FORMATS:
        raise validation_error(f"{path}.format must be one of {sorted(IMAGE_FORMATS)}.")
    source: Any = image.get("source")
    if _single_member(source, frozenset({"bytes", "s3Location"}), f"{path}.source") != "bytes":
        return
    data = _decode_bytes(source["bytes"], f"{path}.source.bytes")
    if len(data) > MAX_IMAGE_BYTES:
        raise validation_error(f"{path}: image size {len(data)} bytes exceeds the maximum of 3.75 MB.")
    info = image_info(data)
    if info is None:
        raise validation_error(f"{path}: could not process image (unrecognised data).")
    if info.format != declared:
        raise validation_error(f"{path}: the image data is {info.format} but the format says {declared}.")
    if max(info.width, info.height) > MAX_IMAGE_PIXELS_PER_SIDE:
        raise validation_error(
            f"{path}: image dimensions {info.width}x{info.height} exceed "
            f"{MAX_IMAGE_PIXELS_PER_SIDE}x{MAX_IMAGE_PIXELS_PER_SIDE} pixels."
        )


def _validate_document(document: dict[str, Any], path: str) -> None:
    if "format" in document and document["format"] not in DOCUMENT_FORMATS:
        raise validation_error(f"{path}.format must be one of {sorted(DOCUMENT_FORMATS)}.")
    name = document.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 200 or not _DOCUMENT_NAME.fullmatch(name):
        raise validation_error(
            f"{path}.name must be 1-200 characters: alphanumerics, hyphens, parentheses, "
            "square brackets and single whitespace characters."
        )
    members = frozenset({"bytes", "s3Location", "text", "content"})
    source: Any = document.get("source")
    if _single_member(source, members, f"{path}.source") == "bytes":
        data = _decode_bytes(source["bytes"], f"{path}.source.bytes")
        if len(data) > MAX_DOCUMENT_BYTES:
            raise validation_error(f"{path}: document size {len(data)} bytes exceeds the maximum of 4.5 MB.")


def _validate_cache_point(cache_point: Any, path: str) -> None:
    point = _object(cache_point, path)
    if point.get("type") != "default" or point.get("ttl", "5m") not in ("5m", "1h"):
        raise validation_error(f"{path} must be {{'type': 'default'}} with optional ttl 5m|1h.")


def _validate_tool_use(tool_use: dict[str, Any], path: str) -> None:
    if not isinstance(tool_use.get("toolUseId"), str) or "input" not in tool_use:
        raise validation_error(f"{path} needs toolUseId, name and input.")
    _validate_tool_name(tool_use.get("name"), f"{path}.name")


def _validate_tool_name(name: Any, path: str) -> str:
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise validation_error(f"{path} must match ^[a-zA-Z0-9_-]{{1,64}}$, got {name!r}.")
    return name


def _validate_system(system: Any) -> None:
    if system is None:
        return
    if not isinstance(system, list):
        raise validation_error("system must be a list.")
    for index, block in enumerate(system):
        path = f"system.{index}"
        member = _single_member(block, SYSTEM_MEMBERS, path)
        if member == "text" and (not isinstance(block["text"], str) or not block["text"]):
            raise validation_error(f"{path}.text must be a non-empty string.")
        if member == "cachePoint":
            _validate_cache_point(block["cachePoint"], f"{path}.cachePoint")


def _validate_tool_config(tool_config: Any) -> None:
    if tool_config is None:
        return
    tools = _object(tool_config, "toolConfig").get("tools")
    if not isinstance(tools, list) or not tools:
        raise validation_error("toolConfig.tools must be a non-empty list.")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        path = f"toolConfig.tools.{index}"
        if _single_member(tool, TOOL_MEMBERS, path) != "toolSpec":
            continue
        spec = _object(tool["toolSpec"], f"{path}.toolSpec")
        name = _validate_tool_name(spec.get("name"), f"{path}.toolSpec.name")
        if name in names:
            raise validation_error(f"Tool names must be unique: {name!r} is repeated.")
        names.add(name)
        if "json" not in _object(spec.get("inputSchema"), f"{path}.toolSpec.inputSchema"):
            raise validation_error(f"{path}.toolSpec.inputSchema must have a json member.")
    choice = tool_config.get("toolChoice")
    if choice is not None:
        kind = _single_member(choice, frozenset({"auto", "any", "tool"}), "toolConfig.toolChoice")
        if kind == "tool" and _object(choice["tool"], "toolChoice.tool").get("name") not in names:
            raise validation_error("toolConfig.toolChoice.tool.name must name a defined tool.")


def _validate_inference_config(config: Any, model_id: str, max_output_tokens: int) -> None:
    if config is None:
        return
    config = _object(config, "inferenceConfig")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise validation_error("inferenceConfig.maxTokens must be an integer of at least 1.")
        if max_tokens > max_output_tokens:
            raise validation_error(
                f"The maximum tokens you requested ({max_tokens}) exceeds the model limit of "
                f"{max_output_tokens}. Try again with a lower maxTokens value."
            )
    for name in ("temperature", "topP"):
        value = config.get(name)
        if value is not None and (not isinstance(value, (int, float)) or not 0 <= value <= 1):
            raise validation_error(f"inferenceConfig.{name} must be a number between 0 and 1.")
    both = config.get("temperature") is not None and config.get("topP") is not None
    if both and _generation(model_id) >= (4, 5):
        raise validation_error(
            "The model returned the following errors: temperature and top_p cannot both "
            "be specified for this model. Please use only one."
        )
    stops = config.get("stopSequences", [])
    if not isinstance(stops, list) or len(stops) > 2500 or not all(isinstance(s, str) for s in stops):
        raise validation_error("inferenceConfig.stopSequences must be a list of at most 2500 strings.")
