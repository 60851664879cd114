"""Token counts: a fast local estimate for pre-flight budgets, and Bedrock's exact CountTokens.

The estimate deliberately errs high (≈3.5 characters per token for text, Anthropic's
width*height/750 for images) so that a budget computed with it is safe; the exact count,
when needed, comes from the provider (`backend.llm.service.count_tokens`). Claude 3+
tokenizers are not public, so no local tokenizer can be exact.
"""

from __future__ import annotations

import json
import math
import struct

from backend.llm.types import (
    CachePoint,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    LLMRequest,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_MAX_TOKENS = 1600  # Claude downsizes large images to about 1.15 megapixels


def estimate_text_tokens(text: str) -> int:
    if not text:
        return 0
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, JPEG or WebP header, or None if unrecognised."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8 " and len(data) >= 30:
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if data[:2] == b"\xff\xd8":
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + length
    return None


def estimate_image_tokens(data: bytes) -> int:
    dimensions = image_dimensions(data)
    if dimensions is None:
        return IMAGE_MAX_TOKENS
    width, height = dimensions
    return min(IMAGE_MAX_TOKENS, math.ceil(width * height / 750))


def estimate_block_tokens(block: ContentBlock) -> int:
    if isinstance(block, TextBlock):
        return estimate_text_tokens(block.text)
    if isinstance(block, ImageBlock):
        return estimate_image_tokens(block.data)
    if isinstance(block, DocumentBlock):
        # Extracted text is what the model reads; raw bytes over-estimate it, which is the safe side.
        return math.ceil(len(block.data) / CHARS_PER_TOKEN)
    if isinstance(block, ToolUseBlock):
        return estimate_text_tokens(block.name + json.dumps(block.input))
    if isinstance(block, ToolResultBlock):
        if isinstance(block.content, str):
            return estimate_text_tokens(block.content)
        return sum(estimate_block_tokens(inner) for inner in block.content)
    if isinstance(block, CachePoint):
        return 0
    raise TypeError(f"unknown content block {type(block).__name__}")


def estimate_request_tokens(request: LLMRequest) -> int:
    """Upper-bound estimate of the input tokens `request` will cost."""
    total = sum(estimate_block_tokens(block) for block in request.system)
    for message in request.messages:
        total += MESSAGE_OVERHEAD_TOKENS + sum(estimate_block_tokens(block) for block in message.content)
    for tool in request.tools:
        total += estimate_text_tokens(tool.name + tool.description + json.dumps(tool.input_schema))
    return total
