"""The incremental answer parser: tags split anywhere, the summary outside the tag, cut-off answers."""

from __future__ import annotations

import pytest

from prototypes.services.parsing import AnswerParser, Edit, parse_answer

PAGE = '<!DOCTYPE html>\n<html><body><p class="x">a < b</p></body></html>'
ANSWER = (
    f'Here is a clean pricing page.\n<prototype_file name="index.html">\n{PAGE}\n</prototype_file>\n'
    "It uses blue accents."
)


def _fed(text: str, size: int) -> AnswerParser:
    parser = AnswerParser()
    for start in range(0, len(text), size):
        parser.feed(text[start : start + size])
    return parser


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 64, 10_000])
def test_a_page_split_into_chunks_of_any_size_parses_the_same(size):
    result = _fed(ANSWER, size).result()

    assert result.complete
    assert result.html == PAGE
    assert result.files == {"index.html": PAGE}
    assert result.summary == "Here is a clean pricing page.\n\nIt uses blue accents."


def test_a_tag_never_closed_is_an_incomplete_answer_with_the_partial_page():
    result = _fed(ANSWER[: ANSWER.index("</body>")], 4).result()

    assert not result.complete
    assert result.html is not None and result.html.startswith("<!DOCTYPE html>")
    assert result.summary == "Here is a clean pricing page."


def test_a_half_received_opening_tag_is_held_back_not_taken_as_summary():
    parser = AnswerParser()
    parser.feed("Summary first. <prototype_fi")

    assert parser.result().summary == "Summary first. <prototype_fi"  # only shown if nothing more comes
    parser.feed('le name="index.html"><p>x</p></prototype_file>')

    result = parser.result()
    assert result.summary == "Summary first."
    assert result.html == "<p>x</p>"


def test_html_angle_brackets_outside_the_tag_stay_in_the_summary():
    result = parse_answer("I used <strong> for emphasis and a <p> per line.")

    assert result.summary == "I used <strong> for emphasis and a <p> per line."
    assert not result.has_output
    assert result.complete


def test_edit_blocks_are_parsed_in_order():
    answer = (
        "Made the button green.\n<prototype_edit>\n<find>\nbg-blue-600\n</find>\n<replace>\nbg-green-600\n</replace>\n"
        "<find>Start trial</find><replace>Try it free</replace>\n</prototype_edit>"
    )

    result = _fed(answer, 3).result()

    assert result.edits == (Edit("bg-blue-600", "bg-green-600"), Edit("Start trial", "Try it free"))
    assert result.summary == "Made the button green."
    assert result.html is None


def test_a_file_without_a_name_is_the_page():
    result = parse_answer("<prototype_file><p>x</p></prototype_file>")

    assert result.html == "<p>x</p>"
