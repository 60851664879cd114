"""The evaluation end to end in CI: the emulator replays each question's gold code, so the
question set, the fixtures, the prompt contract and the executor are all exercised."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from adminassistant import manifest
from adminassistant.eval.questions import QUESTIONS
from adminassistant.executor.runner import execute
from adminassistant.services.evaluation import result_multiset, same_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_default_alias", "seeded")]


def test_the_set_has_at_least_50_questions_and_every_gold_answer_runs():
    assert len(QUESTIONS) >= 50
    assert len({q for q, _ in QUESTIONS}) == len(QUESTIONS)
    for question, gold in QUESTIONS:
        out = execute(gold, manifest=manifest.full())
        assert out.ok, f"{question}: {out.error_message}"


def test_the_emulator_replaying_gold_code_scores_100_percent(emulator, capsys):
    for question, gold in QUESTIONS:
        emulator.add_rule(
            {"match": re.escape(question) + r"\Z", "response": {"text": f"Gold.\n\n```python\n{gold}\n```"}}
        )
    call_command("adminassistant_eval", "--json", "--min-accuracy", "1.0")
    [summary] = json.loads(capsys.readouterr().out)
    assert summary["questions"] == len(QUESTIONS)
    assert (summary["accuracy"], summary["first_pass"], summary["validator_refusals"]) == (1.0, 1.0, 0)


def test_a_wrong_or_refused_answer_is_scored_as_such(emulator, capsys):
    first, second = QUESTIONS[1][0], QUESTIONS[2][0]
    emulator.add_rule({"match": re.escape(first) + r"\Z", "response": {"text": "```python\nresult = 0\n```"}})
    emulator.add_rule(
        {
            "match": re.escape(second) + r"\Z",
            "response": {"text": "```python\nresult = AppUser.objects.update(x=1)\n```"},
        }
    )
    call_command("adminassistant_eval", "--json", "--limit", "3")
    [summary] = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 3
    assert summary["validator_refusals"] == 1  # the correction turn gets no scripted reply: no code
    assert {f["question"] for f in summary["failed"]} >= {first, second}


def test_results_compare_as_multisets():
    a = {"columns": ["x", "n"], "rows": [["b", 2], ["a", 1]], "total": 2}
    b = {"columns": ["label", "count"], "rows": [["a", 1], ["b", 2]], "total": 2}
    assert same_result(a, b)
    assert not same_result(a, {"columns": ["x"], "rows": [["a", 1]], "total": 1})
    assert result_multiset({"columns": ["key", "value"], "rows": [["p", 12.50001]]}) == {12.5: 1}
