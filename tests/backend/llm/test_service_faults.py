"""Every emulator fault maps to the right failure kind on every provider, over the real SDKs, sync and async."""

from __future__ import annotations

import time

import pytest

from backend.llm import service
from backend.llm.errors import FailureKind, LLMError
from backend.llm.models import LLMCall
from backend.llm.types import TextDelta
from backend.llm.usage import CallReport
from tests.backend.llm.helpers import ANTHROPIC, OPENAI, make_request

pytestmark = pytest.mark.django_db(transaction=True)

# (directive, kind, provider code, whether content was already produced)
FAULTS = [
    ("[[emu:throttle]]", FailureKind.THROTTLED, "ThrottlingException", False),
    ("[[emu:unavailable]]", FailureKind.UNAVAILABLE, "ServiceUnavailableException", False),
    ("[[emu:error=ModelNotReadyException]]", FailureKind.UNAVAILABLE, "ModelNotReadyException", False),
    ("[[emu:error=InternalServerException]]", FailureKind.UNAVAILABLE, "InternalServerException", False),
    ("[[emu:error=ModelTimeoutException]]", FailureKind.TIMEOUT, "ModelTimeoutException", False),
    ("[[emu:error=ModelErrorException]]", FailureKind.MODEL_ERROR, "ModelErrorException", False),
    ("[[emu:error=ValidationException]]", FailureKind.CLIENT_ERROR, "ValidationException", False),
    ("[[emu:error=AccessDeniedException]]", FailureKind.CLIENT_ERROR, "AccessDeniedException", False),
    ("[[emu:error=ServiceQuotaExceededException]]", FailureKind.THROTTLED, "ServiceQuotaExceededException", False),
    ("[[emu:midstream_error=throttlingException@3]]", FailureKind.THROTTLED, "throttlingException", True),
    ("[[emu:midstream_error=modelStreamErrorException@3]]", FailureKind.MODEL_ERROR, "modelStreamErrorException", True),
    ("[[emu:midstream_error=internalServerException@3]]", FailureKind.UNAVAILABLE, "internalServerException", True),
    (
        "[[emu:midstream_error=serviceUnavailableException@3]]",
        FailureKind.UNAVAILABLE,
        "serviceUnavailableException",
        True,
    ),
    ("[[emu:midstream_error=validationException@3]]", FailureKind.CLIENT_ERROR, "validationException", True),
    ("[[emu:midstream_error=error@3]]", FailureKind.MODEL_ERROR, None, True),
    ("[[emu:midstream_error=throttlingException@0]]", FailureKind.THROTTLED, "throttlingException", False),
    ("[[emu:drop@3]]", FailureKind.UNAVAILABLE, "connection_lost", True),
    ("[[emu:truncate@3]]", FailureKind.TRUNCATED, "no_message_stop", True),
    ("[[emu:truncate@0]]", FailureKind.TRUNCATED, "no_message_stop", False),
]


async def run_async(prompt: str, alias: str = "solo") -> tuple[str, LLMError]:
    text = ""
    with pytest.raises(LLMError) as caught:
        async for event in service.astream(make_request(prompt, alias=alias)):
            if isinstance(event, TextDelta):
                text += event.text
    return text, caught.value


# The same faults as the Anthropic API and an OpenAI-compatible server answer them.
ANTHROPIC_FAULTS = [
    ("[[emu:throttle]]", FailureKind.THROTTLED, "rate_limit_error", False),
    ("[[emu:unavailable]]", FailureKind.THROTTLED, "overloaded_error", False),  # 529 overloaded
    ("[[emu:error=ModelNotReadyException]]", FailureKind.THROTTLED, "overloaded_error", False),
    ("[[emu:error=InternalServerException]]", FailureKind.UNAVAILABLE, "api_error", False),
    ("[[emu:error=ModelErrorException]]", FailureKind.UNAVAILABLE, "api_error", False),
    ("[[emu:error=ModelTimeoutException]]", FailureKind.TIMEOUT, "timeout_error", False),
    ("[[emu:error=ValidationException]]", FailureKind.CLIENT_ERROR, "invalid_request_error", False),
    ("[[emu:error=UnrecognizedClientException]]", FailureKind.CLIENT_ERROR, "authentication_error", False),
    ("[[emu:error=AccessDeniedException]]", FailureKind.CLIENT_ERROR, "permission_error", False),
    ("[[emu:error=ResourceNotFoundException]]", FailureKind.CLIENT_ERROR, "not_found_error", False),
    ("[[emu:midstream_error=throttlingException@3]]", FailureKind.THROTTLED, "overloaded_error", True),
    ("[[emu:midstream_error=serviceUnavailableException@3]]", FailureKind.THROTTLED, "overloaded_error", True),
    ("[[emu:midstream_error=internalServerException@3]]", FailureKind.UNAVAILABLE, "api_error", True),
    ("[[emu:midstream_error=modelStreamErrorException@3]]", FailureKind.UNAVAILABLE, "api_error", True),
    ("[[emu:midstream_error=validationException@3]]", FailureKind.CLIENT_ERROR, "invalid_request_error", True),
    ("[[emu:midstream_error=error@3]]", FailureKind.MODEL_ERROR, None, True),
    ("[[emu:midstream_error=throttlingException@0]]", FailureKind.THROTTLED, "overloaded_error", False),
    ("[[emu:drop@3]]", FailureKind.UNAVAILABLE, "connection_lost", True),
    ("[[emu:truncate@3]]", FailureKind.TRUNCATED, "no_message_stop", True),
    ("[[emu:truncate@0]]", FailureKind.TRUNCATED, "no_message_stop", False),
]
OPENAI_FAULTS = [
    ("[[emu:throttle]]", FailureKind.THROTTLED, "rate_limit_exceeded", False),
    ("[[emu:error=ServiceQuotaExceededException]]", FailureKind.THROTTLED, "insufficient_quota", False),
    ("[[emu:unavailable]]", FailureKind.UNAVAILABLE, "service_unavailable", False),
    ("[[emu:error=InternalServerException]]", FailureKind.UNAVAILABLE, "internal_error", False),
    ("[[emu:error=ModelTimeoutException]]", FailureKind.TIMEOUT, "timeout", False),
    ("[[emu:error=ValidationException]]", FailureKind.CLIENT_ERROR, "invalid_request", False),
    ("[[emu:error=UnrecognizedClientException]]", FailureKind.CLIENT_ERROR, "invalid_api_key", False),
    ("[[emu:error=AccessDeniedException]]", FailureKind.CLIENT_ERROR, "permission_denied", False),
    ("[[emu:error=ResourceNotFoundException]]", FailureKind.CLIENT_ERROR, "model_not_found", False),
    ("[[emu:midstream_error=throttlingException@3]]", FailureKind.THROTTLED, "rate_limit_exceeded", True),
    ("[[emu:midstream_error=serviceUnavailableException@3]]", FailureKind.UNAVAILABLE, "service_unavailable", True),
    ("[[emu:midstream_error=internalServerException@3]]", FailureKind.UNAVAILABLE, "internal_error", True),
    ("[[emu:midstream_error=modelStreamErrorException@3]]", FailureKind.MODEL_ERROR, "model_error", True),
    ("[[emu:midstream_error=validationException@3]]", FailureKind.CLIENT_ERROR, "invalid_request", True),
    ("[[emu:midstream_error=error@3]]", FailureKind.MODEL_ERROR, None, True),
    ("[[emu:midstream_error=throttlingException@0]]", FailureKind.THROTTLED, "rate_limit_exceeded", False),
    ("[[emu:drop@3]]", FailureKind.UNAVAILABLE, "connection_lost", True),
    ("[[emu:truncate@3]]", FailureKind.TRUNCATED, "no_message_stop", True),
    ("[[emu:truncate@0]]", FailureKind.TRUNCATED, "no_message_stop", False),
]
CASES = [
    pytest.param(alias, model, *fault, id=f"{alias}-{fault[0]}")
    for alias, model, faults in (
        ("anthropic-solo", ANTHROPIC, ANTHROPIC_FAULTS),
        ("openai-solo", OPENAI, OPENAI_FAULTS),
    )
    for fault in faults
]


@pytest.mark.parametrize(("alias", "model_id", "directive", "kind", "code", "after_content"), CASES)
async def test_async_stream_fault_maps_to_its_kind(emulator, alias, model_id, directive, kind, code, after_content):
    text = ""
    report = CallReport()
    with pytest.raises(LLMError) as caught:
        async for event in service.astream(
            make_request(f"{directive} [[emu:tokens=10]] hello", alias=alias), report=report
        ):
            if isinstance(event, TextDelta):
                text += event.text

    error = caught.value
    assert error.kind is kind
    assert error.model_id == model_id
    if code is not None:
        assert error.provider_code == code
    assert error.after_content is after_content
    assert error.partial_text == text
    assert bool(text) is after_content
    call = await LLMCall.objects.aget()
    assert (call.status, call.error_code, call.model_id) == ("error", error.code, model_id)
    assert (report.status, report.model_id, report.usage, report.cost) == ("error", model_id, error.usage, error.cost)
    assert (error.usage.output_tokens > 0) is after_content


@pytest.mark.parametrize(("alias", "model_id", "directive", "kind", "code", "after_content"), CASES)
def test_sync_stream_fault_maps_to_its_kind(emulator, alias, model_id, directive, kind, code, after_content):
    text = ""
    with pytest.raises(LLMError) as caught:
        for event in service.stream(make_request(f"{directive} [[emu:tokens=10]] hello", alias=alias)):
            if isinstance(event, TextDelta):
                text += event.text

    assert caught.value.kind is kind
    assert caught.value.after_content is after_content
    assert caught.value.partial_text == text


@pytest.mark.parametrize(
    ("directive", "kind"),
    [
        ("[[emu:throttle]]", FailureKind.THROTTLED),
        ("[[emu:error=ModelTimeoutException]]", FailureKind.TIMEOUT),
        ("[[emu:error=ValidationException]]", FailureKind.CLIENT_ERROR),
    ],
)
def test_non_streaming_fault_maps_to_its_kind(emulator, directive, kind):
    with pytest.raises(LLMError) as caught:
        service.complete(make_request(directive, alias="solo"))

    assert caught.value.kind is kind


@pytest.mark.parametrize("alias", ["solo", "anthropic-solo", "openai-solo"])
async def test_a_stall_is_bounded_by_the_read_timeout(emulator, settings, alias):
    settings.LLM_STREAM_READ_TIMEOUT = 1.0
    started = time.monotonic()

    text, error = await run_async("[[emu:stall@2]] [[emu:tokens=10]]", alias=alias)

    elapsed = time.monotonic() - started
    assert error.kind is FailureKind.TIMEOUT
    assert error.after_content is True
    assert text  # the two deltas before the stall were delivered
    assert elapsed < 5  # about one read timeout, not the test's patience


def test_a_sync_stall_is_bounded_by_the_read_timeout(emulator, settings):
    settings.LLM_STREAM_READ_TIMEOUT = 1.0
    started = time.monotonic()

    with pytest.raises(LLMError) as caught:
        list(service.stream(make_request("[[emu:stall@2]] [[emu:tokens=10]]", alias="solo")))

    assert caught.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 5


async def test_temperature_with_top_p_is_refused_before_any_call(emulator):
    _, error = await run_async_request(make_request("hi", alias="solo", temperature=0.5, top_p=0.9))

    assert error.kind is FailureKind.CLIENT_ERROR
    assert error.provider_code == "temperature_and_top_p"
    assert emulator.requests() == []


async def run_async_request(request):
    with pytest.raises(LLMError) as caught:
        async for _ in service.astream(request):
            pass
    return None, caught.value
