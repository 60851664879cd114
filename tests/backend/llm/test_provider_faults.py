"""The Anthropic and OpenAI-compatible providers failing: timeouts, missing keys, fallback across
providers, models skipped for their content, keys that never leak. (The fault-by-fault mapping of
every provider is in test_service_faults.py.)
"""

from __future__ import annotations

import logging

import pytest

from backend.llm import service
from backend.llm.errors import FailureKind, LLMError
from backend.llm.models import LLMCall
from backend.llm.types import ImageBlock, LLMRequest, Message, StreamStart, TextBlock
from tests.backend.llm.helpers import (
    ANTHROPIC,
    ANTHROPIC_KEY,
    LOCAL,
    OPENAI,
    OPENAI_KEY,
    PRIMARY,
    make_request,
)
from tests.backend.llm.test_service_complete import PNG

pytestmark = pytest.mark.django_db(transaction=True)


def models_called(emulator) -> list[str]:
    return [r["model_id"] for r in emulator.requests() if "count" not in r["operation"]]


@pytest.mark.parametrize(
    ("alias", "directive", "kind"),
    [
        ("anthropic-solo", "[[emu:throttle]]", FailureKind.THROTTLED),
        ("anthropic-solo", "[[emu:error=ModelTimeoutException]]", FailureKind.TIMEOUT),
        ("anthropic-solo", "[[emu:midstream_error=internalServerException@2]]", FailureKind.UNAVAILABLE),
        ("openai-solo", "[[emu:unavailable]]", FailureKind.UNAVAILABLE),
        ("openai-solo", "[[emu:error=ValidationException]]", FailureKind.CLIENT_ERROR),
        ("openai-solo", "[[emu:drop@2]]", FailureKind.UNAVAILABLE),
    ],
)
async def test_non_streaming_fault_maps_to_its_kind(emulator, alias, directive, kind):
    with pytest.raises(LLMError) as caught:
        await service.acomplete(make_request(directive, alias=alias))

    assert caught.value.kind is kind


async def test_a_missing_key_is_a_client_error_without_a_request(emulator, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")

    with pytest.raises(LLMError) as caught:
        await service.acomplete(make_request("hi", alias="anthropic-solo"))

    assert caught.value.kind is FailureKind.CLIENT_ERROR
    assert caught.value.provider_code == "no_credentials"
    assert emulator.requests() == []


# --- Fallback across providers ---------------------------------------------------------------------


async def test_a_mixed_chain_falls_back_from_bedrock_to_the_anthropic_api_then_to_a_local_model(emulator):
    emulator.throttle(PRIMARY, 60)  # the Bedrock model is saturated

    events = [
        event
        async for event in service.astream(
            make_request(f"[[emu:unavailable model={ANTHROPIC}]] [[emu:tokens=6]] hi", alias="mixed")
        )
    ]

    assert events[0] == StreamStart(model_id=LOCAL, alias="mixed")
    assert events[-1].model_id == LOCAL
    # (botocore retries a throttled request once, so Bedrock may appear twice in the log)
    assert list(dict.fromkeys((r["operation"], r["model_id"]) for r in emulator.requests())) == [
        ("converse-stream", PRIMARY),
        ("messages", ANTHROPIC),
        ("chat-completions", "llama3.2"),
    ]
    call = await LLMCall.objects.aget()
    assert (call.status, call.model_id, call.provider) == ("ok", LOCAL, "openai")
    assert call.attempts == [
        {"model": PRIMARY, "provider": "bedrock", "kind": "throttled", "code": "ThrottlingException"},
        {"model": ANTHROPIC, "provider": "anthropic", "kind": "throttled", "code": "overloaded_error"},
    ]


def test_a_mixed_chain_answers_from_the_anthropic_api_when_bedrock_is_throttled(emulator):
    emulator.throttle(PRIMARY, 60)

    completion = service.complete(make_request("[[emu:tokens=4]] hi", alias="mixed"))

    assert completion.model_id == ANTHROPIC
    call = LLMCall.objects.get()
    assert (call.model_id, call.provider) == (ANTHROPIC, "anthropic")
    assert [a["provider"] for a in call.attempts] == ["bedrock"]


async def test_a_client_error_never_falls_back_to_another_provider(emulator, settings):
    settings.LLM_ALIASES = {**settings.LLM_ALIASES, "cloud": {"chain": [ANTHROPIC, OPENAI]}}

    with pytest.raises(LLMError) as caught:
        await service.acomplete(make_request("[[emu:error=ValidationException]] hi", alias="cloud"))

    assert caught.value.kind is FailureKind.CLIENT_ERROR
    assert models_called(emulator) == [ANTHROPIC]


async def test_a_model_that_cannot_take_an_image_is_skipped_with_a_logged_reason(emulator, settings, caplog):
    settings.LLM_ALIASES = {**settings.LLM_ALIASES, "local-first": {"chain": [LOCAL, ANTHROPIC]}}
    request = LLMRequest(
        messages=(Message(role="user", content=(ImageBlock(format="png", data=PNG), TextBlock("What is this?"))),),
        alias="local-first",
    )

    with caplog.at_level(logging.INFO, logger="backend.llm.service"):
        completion = await service.acomplete(request)

    assert completion.model_id == ANTHROPIC
    assert models_called(emulator) == [ANTHROPIC]
    assert any(LOCAL in record.getMessage() and "image" in record.getMessage() for record in caplog.records)
    call = await LLMCall.objects.aget()
    assert call.attempts == [{"model": LOCAL, "provider": "openai", "kind": "skipped", "code": "unsupported_content"}]


async def test_when_no_model_can_take_the_content_the_call_is_refused(emulator):
    request = LLMRequest(
        messages=(Message(role="user", content=(ImageBlock(format="png", data=PNG), TextBlock("?"))),),
        alias="local-solo",
    )

    with pytest.raises(LLMError) as caught:
        await service.acomplete(request)

    assert (caught.value.kind, caught.value.provider_code) == (FailureKind.CLIENT_ERROR, "unsupported_content")
    assert emulator.requests() == []
    assert (await LLMCall.objects.aget()).status == "error"


# --- Keys ------------------------------------------------------------------------------------------


async def test_keys_never_appear_in_logs_error_bodies_or_the_ledger(emulator, caplog):
    for name in ("anthropic", "openai", "httpx2", "httpcore2", "backend"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    errors: list[LLMError] = []
    try:
        with caplog.at_level(logging.DEBUG):
            for alias in ("anthropic-solo", "openai-solo", "mixed"):
                [event async for event in service.astream(make_request("[[emu:tokens=3]] hi", alias=alias))]
                for directive in ("[[emu:error=UnrecognizedClientException]]", "[[emu:midstream_error=error@1]]"):
                    try:
                        await service.acomplete(make_request(directive, alias=alias))
                    except LLMError as error:
                        errors.append(error)
    finally:
        for name in ("anthropic", "openai", "httpx2", "httpcore2", "backend"):
            logging.getLogger(name).setLevel(logging.NOTSET)

    assert len(errors) == 6
    assert caplog.records  # the SDKs did log at DEBUG: the check below is not vacuous
    logged = "\n".join(caplog.text.splitlines() + [repr(record.__dict__) for record in caplog.records])
    bodies = "\n".join(repr(error) + error.detail + str(error.details) + error.message for error in errors)
    ledger = repr([call.__dict__ async for call in LLMCall.objects.all()])
    recorded = repr(emulator.requests())
    for key in (ANTHROPIC_KEY, OPENAI_KEY):
        assert key not in logged
        assert key not in bodies
        assert key not in ledger
        assert key not in recorded  # the emulator does not keep credentials either
