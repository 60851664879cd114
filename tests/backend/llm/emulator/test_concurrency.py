"""Many concurrent slow streams through the real async client (aiobotocore), on one emulator loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from backend.llm.emulator import EmulatorServer, default_reply_tokens

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
STREAMS = 200
TOKENS = 20


async def test_200_concurrent_streams_complete_correctly(emulator: EmulatorServer) -> None:
    config = AioConfig(max_pool_connections=STREAMS, retries={"mode": "standard", "total_max_attempts": 1})
    session = get_session()
    async with session.create_client(
        "bedrock-runtime",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    ) as client:

        async def stream(index: int) -> tuple[str, str, dict[str, Any]]:
            prompt = f"stream {index} [[emu:tokens={TOKENS}]] [[emu:delay_ms=5]]"
            response = await client.converse_stream(
                modelId=SONNET_45, messages=[{"role": "user", "content": [{"text": prompt}]}]
            )
            text, stop_reason, usage = "", "", {}
            async for event in response["stream"]:
                if "contentBlockDelta" in event:
                    text += event["contentBlockDelta"]["delta"]["text"]
                elif "messageStop" in event:
                    stop_reason = event["messageStop"]["stopReason"]
                elif "metadata" in event:
                    usage = event["metadata"]["usage"]
            return text, stop_reason, usage

        started = time.monotonic()
        results = await asyncio.gather(*(stream(i) for i in range(STREAMS)))
        elapsed = time.monotonic() - started

    for index, (text, stop_reason, usage) in enumerate(results):
        assert text == "".join(default_reply_tokens(f"stream {index}", TOKENS))
        assert stop_reason == "end_turn"
        assert usage["outputTokens"] == TOKENS
    # Each stream takes ~0.1 s; run serially they would take 20 s.
    assert elapsed < 10
