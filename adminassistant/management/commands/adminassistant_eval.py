"""Measure the assistant on the evaluation set (adminassistant/eval/questions.py).

    manage.py adminassistant_eval                          # the configured model
    manage.py adminassistant_eval --models admin-assistant,fast --limit 20 --json
    manage.py adminassistant_eval --seed                   # first create the fixture rows (a scratch database!)

Each question's gold code and the model's code both run through the executor (read-only, on the
assistant's alias, with the full manifest); results are compared as multisets. Prints accuracy,
first-pass success and validator refusals per model alias.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adminassistant import manifest
from adminassistant.eval import fixtures
from adminassistant.eval.questions import QUESTIONS
from adminassistant.services import config
from adminassistant.services.evaluation import evaluate


class Command(BaseCommand):
    help = "Score the admin assistant's answers against gold code over the fixture data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--models", default="", help="Comma-separated model aliases (default: the AI settings').")
        parser.add_argument("--limit", type=int, default=0, help="Only the first N questions.")
        parser.add_argument("--seed", action="store_true", help="Create the fixture rows first (writes data).")
        parser.add_argument("--json", action="store_true", help="Print the reports as JSON.")
        parser.add_argument("--min-accuracy", type=float, default=0.0, help="Fail below this accuracy (0..1).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seed"]:
            fixtures.seed()
        current = config.config_current()
        aliases = [a.strip() for a in options["models"].split(",") if a.strip()] or [current.alias]
        questions = QUESTIONS[: options["limit"]] if options["limit"] else QUESTIONS
        full = manifest.full()
        summaries = []
        for alias in aliases:
            report = evaluate(
                questions=questions,
                manifest=full,
                alias=alias,
                temperature=current.temperature,
                max_tokens=current.max_tokens,
            )
            summary = report.summary()
            summary["failed"] = [{"question": s.question, "error": s.error} for s in report.scores if not s.correct]
            summaries.append(summary)
        if options["json"]:
            self.stdout.write(json.dumps(summaries, indent=2))
        else:
            for s in summaries:
                self.stdout.write(
                    f"{s['alias']}: {s['questions']} questions, accuracy {s['accuracy']:.1%}, "
                    f"first pass {s['first_pass']:.1%}, validator refusals {s['validator_refusals']}, "
                    f"errors {s['errors']}, models {', '.join(s['models']) or '-'}"
                )
                for failure in s["failed"]:
                    self.stdout.write(f"  x {failure['question']} ({failure['error']})")
                for failure in s["gold_failures"]:
                    self.stdout.write(f"  ! gold failed: {failure}")
        worst = min(s["accuracy"] for s in summaries)
        if any(s["gold_failures"] for s in summaries):
            raise CommandError("Some gold code failed: the question set or the fixtures are broken.")
        if worst < options["min_accuracy"]:
            raise CommandError(f"Accuracy {worst:.1%} is below {options['min_accuracy']:.1%}.")
