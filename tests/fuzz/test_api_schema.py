"""Schemathesis fuzzes every operation of /api/schema/ against the real ASGI app (uvicorn, PostgreSQL).

Run by `make fuzz` (CI runs it after `make test`); deselected from the default run by the
`fuzz` marker. Valid and invalid inputs are generated for each operation and sent as an
authenticated user with DEBUG off; the run fails on any 5xx, any status code, content type
or body the schema does not declare, and any error body outside the error shape
(`tests/fuzz/hooks.py`). The CLI runs in a subprocess against the server in this process;
its JSON report gives the figures printed at the end.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appauth.models import AuthToken
from tests.e2e.live import LiveServer, make_user
from tests.factories import UserFactory

pytestmark = [pytest.mark.fuzz, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "error_shape",
        "event_stream",
    ]
)
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", "180"))
# Tokens for the operations that revoke the calling token (see tests/fuzz/hooks.py).
DISPOSABLE_TOKENS = 4 * MAX_EXAMPLES + 40


def _seed(user: Any) -> dict[str, list[str]]:
    """Objects of the fuzzing user, so detail operations are reached with real ids too (path parameter → ids)."""
    from tests.chat.factories import (
        ChatFactory,
        ProjectFactory,
        ProjectKnowledgeFactory,
        SavedSystemPromptFactory,
        turn,
    )
    from tests.prototypes.factories import (
        DesignProjectFactory,
        GroupFactory,
        PrototypeFactory,
        VariantFactory,
        VersionFactory,
    )

    project = ProjectFactory(user=user)
    chats = [ChatFactory(user=user, project=project if n == 0 else None) for n in range(3)]
    pairs = [turn(chat) for chat in chats for _ in range(2)]
    design = DesignProjectFactory(user=user)
    group = GroupFactory(project=design)
    prototype = PrototypeFactory(project=design, group=group)
    variant = VariantFactory(prototype=prototype)
    versions = [VersionFactory(variant=variant, version_number=n) for n in (1, 2)]
    return {
        "project_id": [str(project.id)],
        "knowledge_id": [str(ProjectKnowledgeFactory(project=project).id)],
        "prompt_id": [str(SavedSystemPromptFactory(user=user).id)],
        "chat_id": [str(chat.id) for chat in chats],
        "pair_id": [str(pair.id) for pair in pairs],
        "message_id": [str(message.id) for pair in pairs for message in pair.messages.all()],
        "id": [str(obj.id) for obj in (design, group, prototype, variant, *versions)],
    }


def _config(seeded: dict[str, list[str]]) -> str:
    """The run's schemathesis.toml: the committed one, plus the seeded ids as path-parameter dictionaries."""
    lines = [Path(__file__).with_name("schemathesis.toml").read_text(), "[parameters]"]
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in seeded]
    for name, ids in seeded.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(ids)}"]
    return "\n".join(lines) + "\n"


def _disposable_tokens(count: int) -> list[str]:
    """One token each for `count` users of their own (no password: nothing to hash)."""
    from appauth.services.audit import ClientInfo
    from appauth.services.tokens import token_create

    client = ClientInfo(ip="127.0.0.1", user_agent="fuzz")
    tokens = []
    for number in range(count):
        user = UserFactory(email=f"disposable-{number}@example.com", password=None)
        tokens.append(token_create(user=user, client=client)[1])
    return tokens


@pytest.mark.timeout(MAX_SECONDS + 120)
def test_every_operation_survives_the_fuzzer(
    live_server_asgi: LiveServer, transactional_db: None, emulator: Any, tmp_path: Path, settings: Any
) -> None:
    assert not settings.DEBUG
    # Per-IP limits of the public endpoints would answer most cases 429 and leave the logic
    # behind them untested; the limits themselves have their own tests.
    settings.AUTH_RATE_LIMITS = dict.fromkeys(settings.AUTH_RATE_LIMITS, "100000/h")
    user, token = make_user("fuzzer@example.com")
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps({"main": token, "disposable": _disposable_tokens(DISPOSABLE_TOKENS)}))
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(_seed(user)))
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        f"--config-file={config}",
        "run",
        f"{live_server_asgi.url}/api/schema/",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--max-time={MAX_SECONDS}",
        "--request-timeout=20",
        "--phases=examples,coverage,fuzzing",
        "--workers=1",  # two threads hit a CPython 3.11 race in `ast` (SystemError) inside hypothesis
        "--seed=13",
        "--no-shrink",
        "--suppress-health-check=all",
        "--continue-on-failure",
        "--report=json",
        f"--report-json-path={report}",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "FUZZ_TOKENS_FILE": str(tokens_file),
    }
    request_log = logging.getLogger("django.request")
    level = request_log.level
    if not os.environ.get("FUZZ_VERBOSE"):
        request_log.setLevel(logging.ERROR)  # thousands of expected 4xx warnings otherwise
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    finally:
        request_log.setLevel(level)
    sys.stdout.write(result.stdout[-20000:])
    sys.stdout.write("".join(line + "\n" for line in result.stderr.splitlines() if line.startswith("pending:")))
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    # The run was authenticated to its end (nothing revoked the fuzzing user's token).
    assert AuthToken.objects.filter(user=user).exists()
    summary = json.loads(report.read_text())
    sys.stdout.write(
        f"\nfuzz: {summary['test_cases']['generated']} cases, {summary['operations']['tested']}/"
        f"{summary['operations']['total']} operations, {len(summary['failures'])} failures\n"
    )
