"""Fixtures for the Bedrock emulator tests: a live emulator and real boto3 clients."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import boto3
import pytest
from botocore.config import Config

from backend.llm.emulator import EmulatorServer


@pytest.fixture(autouse=True)
def llm_aliases() -> None:
    """Override the parent LLM conftest's Django-settings fixture: the emulator tests run without Django."""


@pytest.fixture(autouse=True)
def provider_models() -> None:
    """Override the parent LLM conftest's Django-settings fixture: the emulator tests run without Django."""


@pytest.fixture(autouse=True)
def _close_async_clients() -> None:
    """Override the parent LLM conftest's fixture: these tests create no backend.llm clients."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_emulator(request: pytest.FixtureRequest) -> None:
    """Every test starts with no rules, throttles, recorded requests or cache."""
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


@pytest.fixture(scope="module")
def make_client(emulator: EmulatorServer) -> Callable[..., Any]:
    """Build a real boto3 bedrock-runtime client for the emulator (no retries unless asked)."""

    def make(**config: Any) -> Any:
        config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
        return boto3.client(
            "bedrock-runtime",
            endpoint_url=emulator.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(**config),
        )

    return make


@pytest.fixture(scope="module")
def client(make_client: Callable[..., Any]) -> Any:
    return make_client()


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def http(emulator: EmulatorServer) -> Callable[..., HttpResult]:
    """Plain HTTP to the emulator: ``http("POST", "/model/m/converse", b"{}")``; errors are returned."""

    def call(method: str, path: str, body: bytes | None = None) -> HttpResult:
        # S310: the URL is always the local emulator's http:// address.
        request = urllib.request.Request(f"{emulator.url}{path}", data=body, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return HttpResult(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return HttpResult(error.code, error.headers, error.read())

    return call


@pytest.fixture(scope="module")
def control(http: Callable[..., HttpResult]) -> Callable[..., tuple[int, Any]]:
    """Call the control API: ``control("POST", "rules", {...})`` -> (status, JSON body)."""

    def call(method: str, route: str, body: Any = None) -> tuple[int, Any]:
        result = http(method, f"/_emulator/{route}", None if body is None else json.dumps(body).encode())
        return result.status, result.json()

    return call
