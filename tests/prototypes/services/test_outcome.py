"""What a finished answer makes of a version: complete, incomplete (cut off), a patch, or a rewrite."""

from __future__ import annotations

from backend.llm.types import StopReason
from prototypes.services.outcome import outcome_of
from prototypes.services.parsing import parse_answer
from tests.prototypes.factories import PAGE

END = StopReason.END_TURN


def test_a_whole_page_is_complete_and_sanitised():
    answer = f'Done.<prototype_file name="index.html"><script src="https://cdn.tailwindcss.com"></script>{PAGE}</prototype_file>'

    outcome = outcome_of(parsed=parse_answer(answer), stop_reason=END, base_html="", is_edit=False, rewrite=False)

    assert outcome.status == "complete"
    assert outcome.html == PAGE
    assert outcome.summary == "Done."
    assert outcome.notes == ("removed <script src=https://cdn.tailwindcss.com>",)


def test_max_tokens_makes_even_a_closed_page_incomplete():
    answer = f"<prototype_file>{PAGE}</prototype_file>"

    outcome = outcome_of(
        parsed=parse_answer(answer), stop_reason=StopReason.MAX_TOKENS, base_html="", is_edit=False, rewrite=False
    )

    assert outcome.status == "incomplete"
    assert outcome.error_code == "max_tokens"


def test_an_edit_that_applies_is_a_patch():
    answer = "Green now.<prototype_edit><find>bg-blue-600</find><replace>bg-green-600</replace></prototype_edit>"

    outcome = outcome_of(parsed=parse_answer(answer), stop_reason=END, base_html=PAGE, is_edit=True, rewrite=False)

    assert (outcome.status, outcome.edit_mode) == ("complete", "patch")
    assert outcome.html == PAGE.replace("bg-blue-600", "bg-green-600")


def test_an_edit_whose_find_is_missing_asks_for_a_rewrite():
    answer = "<prototype_edit><find>bg-purple-900</find><replace>bg-green-600</replace></prototype_edit>"

    outcome = outcome_of(parsed=parse_answer(answer), stop_reason=END, base_html=PAGE, is_edit=True, rewrite=False)

    assert outcome.needs_rewrite


def test_an_answer_without_a_page_is_an_error():
    outcome = outcome_of(
        parsed=parse_answer("Sorry, I cannot."), stop_reason=END, base_html="", is_edit=False, rewrite=False
    )

    assert (outcome.status, outcome.error_code) == ("error", "no_prototype_in_answer")
