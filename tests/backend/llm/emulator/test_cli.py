"""``python -m backend.llm.emulator`` starts a working server and announces its port."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import boto3

REPO_ROOT = Path(__file__).resolve().parents[4]


def test_cli_serves_on_the_announced_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.llm.emulator", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=match.group(1),
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        response = client.converse(
            modelId="anthropic.claude-sonnet-4-5-20250929-v1:0",
            messages=[{"role": "user", "content": [{"text": "[[emu:reply=pong]]"}]}],
        )
        assert response["output"]["message"]["content"] == [{"text": "pong"}]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "CANNED" in stderr
