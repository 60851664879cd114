"""Find-and-replace edits: exact first, tolerant of whitespace second, all-or-nothing; unified diffs."""

from __future__ import annotations

from prototypes.services.editing import apply_edits, unified_diff
from prototypes.services.parsing import Edit
from tests.prototypes.factories import PAGE


def test_an_exact_match_is_replaced_and_nothing_else_changes():
    outcome = apply_edits(PAGE, [Edit("bg-blue-600", "bg-green-600")])

    assert outcome.ok
    assert outcome.html == PAGE.replace("bg-blue-600", "bg-green-600")


def test_a_find_with_different_indentation_and_line_breaks_still_applies():
    find = '<h1 class="text-3xl font-bold text-gray-900">Simple pricing</h1>\n<button   class="rounded'
    outcome = apply_edits(PAGE, [Edit(find, '<h1 class="text-4xl">Pricing</h1>\n  <button class="rounded')])

    assert outcome.ok
    assert '<h1 class="text-4xl">Pricing</h1>' in outcome.html
    assert "Simple pricing" not in outcome.html
    assert outcome.html.count("<button") == 1


def test_a_find_text_that_is_not_there_applies_nothing():
    outcome = apply_edits(PAGE, [Edit("bg-blue-600", "bg-green-600"), Edit("<footer>", "<footer class='x'>")])

    assert not outcome.ok
    assert outcome.html == PAGE  # the first edit is not half-applied
    assert outcome.failed == (Edit("<footer>", "<footer class='x'>"),)


def test_edits_apply_in_order_on_the_result_of_the_previous_one():
    outcome = apply_edits(PAGE, [Edit("Start trial", "Go"), Edit(">Go<", ">Go now<")])

    assert outcome.ok
    assert ">Go now<" in outcome.html


def test_unified_diff_names_both_sides_and_shows_the_changed_line():
    diff = unified_diff(PAGE, PAGE.replace("Simple pricing", "Pricing"), before_label="v1", after_label="v2")

    assert diff.startswith("--- v1\n+++ v2\n")
    assert '-  <h1 class="text-3xl font-bold text-gray-900">Simple pricing</h1>' in diff
    assert '+  <h1 class="text-3xl font-bold text-gray-900">Pricing</h1>' in diff
