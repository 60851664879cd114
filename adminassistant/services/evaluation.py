"""Scoring the assistant: ask each evaluation question, run the model's code and the gold code,
and compare their results as multisets (row order and column names do not count).

Reports accuracy, first-pass success (right without the correction turn) and validator
refusals per model alias. With the emulator replaying the gold code (CI) it tests the question
set, the fixtures, the prompt contract and the executor end to end; with real credentials it
measures models.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adminassistant.errors import ErrorCode
from adminassistant.executor.runner import Execution, execute
from adminassistant.manifest import Manifest
from adminassistant.services import prompts
from backend.llm import service as llm
from backend.llm.errors import LLMError


def _value(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        return round(float(value), 4)
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _value(v)) for k, v in value.items()))
    return value


def result_multiset(result: dict[str, Any]) -> Counter[Any]:
    """The rows of a result as a multiset of value tuples; a one-column row is its value."""
    rows: Counter[Any] = Counter()
    for row in result.get("rows", []):
        values = tuple(_value(v) for v in row)
        if len(values) == 2 and result.get("columns") == ["key", "value"]:
            values = (values[1],)  # a dict result: its keys are names the model chose
        rows[values[0] if len(values) == 1 else values] += 1
    return rows


def same_result(answer: dict[str, Any], gold: dict[str, Any]) -> bool:
    return result_multiset(answer) == result_multiset(gold) and answer.get("total") == gold.get("total")


@dataclass
class Score:
    question: str
    correct: bool = False
    first_pass: bool = False
    refusals: int = 0
    error: str = ""
    model_id: str = ""


@dataclass
class Report:
    alias: str
    scores: list[Score] = field(default_factory=list)
    gold_failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = len(self.scores) or 1
        return {
            "alias": self.alias,
            "questions": len(self.scores),
            "accuracy": round(sum(s.correct for s in self.scores) / n, 3),
            "first_pass": round(sum(s.first_pass for s in self.scores) / n, 3),
            "validator_refusals": sum(s.refusals for s in self.scores),
            "errors": sum(bool(s.error) and not s.correct for s in self.scores),
            "models": sorted({s.model_id for s in self.scores if s.model_id}),
            "gold_failures": self.gold_failures,
        }


def _ask(request: Any, score: Score) -> str:
    completion = llm.complete(request)
    score.model_id = completion.model_id
    return completion.text


def _run(reply: str, manifest: Manifest) -> tuple[Execution, str]:
    blocks = prompts.code_blocks(reply)
    if len(blocks) != 1:
        return Execution(error_code=ErrorCode.NO_CODE, error_message="Reply with exactly one ```python block."), ""
    return execute(blocks[0], manifest=manifest), blocks[0]


def evaluate(
    *, questions: list[tuple[str, str]], manifest: Manifest, alias: str, temperature: float, max_tokens: int
) -> Report:
    report = Report(alias=alias)
    for index, (question, gold_code) in enumerate(questions):
        score = Score(question=question)
        request = prompts.request_build(
            manifest=manifest,
            history=[],
            question=question,
            alias=alias,
            temperature=temperature,
            max_tokens=max_tokens,
            user_id=None,
            message_id=f"eval-{index}",
        )
        answer: Execution | None = None
        try:
            reply = _ask(request, score)
            answer, _ = _run(reply, manifest)
            score.refusals += answer.error_code == "refused"
            gold = execute(gold_code, manifest=manifest)  # after the answer: both see the same rows
            if answer.ok and gold.ok and _same(answer, gold):
                score.correct = score.first_pass = True
            elif not answer.ok and answer.correctable:
                retry = prompts.correction_build(request, reply=reply, error=answer.error_message)
                answer, _ = _run(_ask(retry, score), manifest)
                score.refusals += answer.error_code == "refused"
                gold = execute(gold_code, manifest=manifest)
                score.correct = answer.ok and gold.ok and _same(answer, gold)
        except LLMError as error:
            score.error = error.code
            report.scores.append(score)
            continue
        if not gold.ok:
            report.gold_failures.append(f"{question}: {gold.error_message}")
            continue
        if not score.correct:
            score.error = (answer.error_code if answer else "") or "wrong_result"
        report.scores.append(score)
    return report


def _same(answer: Execution, gold: Execution) -> bool:
    assert answer.result is not None and gold.result is not None
    return same_result(answer.result, gold.result)
