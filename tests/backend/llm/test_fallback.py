"""Fallback between models: when it happens, when it must not, and cooldowns shared through the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from backend.llm import service
from backend.llm.errors import FailureKind, LLMError
from backend.llm.models import LLMCall
from backend.llm.types import StreamStart, StreamStop, TextDelta
from tests.backend.llm.helpers import PRIMARY, SECONDARY, make_request

pytestmark = pytest.mark.django_db(transaction=True)


def models_called(emulator) -> list[str]:
    return [r["model_id"] for r in emulator.requests() if r["operation"] != "count-tokens"]


async def stream_all(request):
    return [event async for event in service.astream(request)]


async def test_throttled_primary_is_answered_by_the_next_model(emulator):
    emulator.throttle(PRIMARY, 60)

    events = await stream_all(make_request("[[emu:tokens=8]] hello"))

    start = events[0]
    assert isinstance(start, StreamStart) and start.model_id == SECONDARY
    assert isinstance(events[-1], StreamStop) and events[-1].model_id == SECONDARY
    assert set(models_called(emulator)) == {PRIMARY, SECONDARY}
    call = await LLMCall.objects.aget()
    assert call.model_id == SECONDARY
    assert call.status == "ok"
    assert call.attempts == [
        {"model": PRIMARY, "provider": "bedrock", "kind": "throttled", "code": "ThrottlingException"}
    ]


@pytest.mark.parametrize(
    "fault",
    [
        "[[emu:unavailable model=sonnet]]",
        "[[emu:error=ModelNotReadyException model=sonnet]]",
        "[[emu:error=ModelErrorException model=sonnet]]",
        "[[emu:error=ModelTimeoutException model=sonnet]]",
        "[[emu:midstream_error=modelStreamErrorException@0 model=sonnet]]",
        "[[emu:midstream_error=throttlingException@0 model=sonnet]]",
    ],
)
async def test_failures_before_content_fall_back(emulator, fault):
    events = await stream_all(make_request(f"{fault} [[emu:tokens=5]] hi"))

    assert events[0].model_id == SECONDARY
    assert "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_timeout_before_content_falls_back(emulator, settings):
    settings.LLM_STREAM_READ_TIMEOUT = 1.0

    events = await stream_all(make_request("[[emu:stall@0 model=sonnet]] [[emu:tokens=5]]"))

    assert events[0].model_id == SECONDARY


async def test_a_validation_error_never_falls_back(emulator):
    with pytest.raises(LLMError) as caught:
        await stream_all(make_request("[[emu:error=ValidationException model=sonnet]]"))

    assert caught.value.kind is FailureKind.CLIENT_ERROR
    assert models_called(emulator) == [PRIMARY]


async def test_a_failure_after_the_first_delta_never_falls_back(emulator):
    text = ""
    with pytest.raises(LLMError) as caught:
        async for event in service.astream(
            make_request("[[emu:midstream_error=throttlingException@3 model=sonnet]] [[emu:tokens=10]]")
        ):
            if isinstance(event, TextDelta):
                text += event.text

    assert caught.value.after_content is True
    assert caught.value.partial_text == text != ""
    assert models_called(emulator) == [PRIMARY]
    call = await LLMCall.objects.aget()
    assert call.status == "error" and call.model_id == PRIMARY
    assert call.output_tokens > 0  # the partial answer is accounted for


async def test_when_every_model_fails_the_last_error_is_raised_with_all_attempts(emulator):
    with pytest.raises(LLMError) as caught:
        await stream_all(make_request("[[emu:throttle]]"))

    assert caught.value.kind is FailureKind.THROTTLED
    assert [a["model"] for a in caught.value.attempts] == [PRIMARY, SECONDARY]


def test_non_streaming_calls_fall_back_too(emulator):
    emulator.throttle(PRIMARY, 60)

    completion = service.complete(make_request("[[emu:tokens=6]] hi"))

    assert completion.model_id == SECONDARY
    assert completion.usage.output_tokens == 6
    assert LLMCall.objects.get().model_id == SECONDARY


async def test_a_throttled_model_is_skipped_by_the_next_call(emulator):
    emulator.throttle(PRIMARY, 60)
    await stream_all(make_request("first"))
    emulator.reset()  # the primary would answer now, but it is cooling down

    events = await stream_all(make_request("second"))

    assert events[0].model_id == SECONDARY
    assert models_called(emulator) == [SECONDARY]


async def test_when_every_model_cools_down_the_chain_is_still_tried(emulator):
    emulator.throttle(PRIMARY, 60)
    emulator.throttle(SECONDARY, 60)
    with pytest.raises(LLMError):
        await stream_all(make_request("first"))
    emulator.reset()

    events = await stream_all(make_request("second"))

    assert events[0].model_id == PRIMARY


@pytest.mark.redis
def test_cooldown_is_shared_with_another_process(emulator, tmp_path):
    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    emulator.throttle(PRIMARY, 60)
    service.complete(make_request("throttle me", alias="chat-default"))
    emulator.reset()

    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from backend.llm import service
        from backend.llm.types import LLMRequest, Message
        completion = service.complete(LLMRequest(messages=(Message.user("other process"),), alias="chat-default"))
        print(json.dumps({"model": completion.model_id}))
        """
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "aiassistant.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
        "REDIS_URL": django_settings.REDIS_URL,
        "BEDROCK_ENDPOINT_URL": emulator.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[3],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    chain = django_settings.LLM_ALIASES["chat-default"]["chain"]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"model": chain[1]}
    assert models_called(emulator) == [chain[1]]
