"""Applying the model's find-and-replace edits to the stored HTML, and diffs between pages.

Each edit is tried with an exact match first (the first occurrence), then with a tolerant
match that ignores differences in whitespace (indentation, line breaks, runs of spaces),
which is where models most often drift from the source. If any edit matches nowhere, nothing
is applied and the caller falls back to a full rewrite: a half-applied edit would leave a
page nobody asked for.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from prototypes.services.parsing import Edit


@dataclass(frozen=True)
class EditOutcome:
    html: str
    applied: int
    failed: tuple[Edit, ...]

    @property
    def ok(self) -> bool:
        return not self.failed and self.applied > 0


def _tolerant_pattern(find: str) -> re.Pattern[str] | None:
    words = find.split()
    if not words:
        return None
    return re.compile(r"\s*".join(re.escape(word) for word in words))


def apply_edit(html: str, edit: Edit) -> str | None:
    """`html` with `edit` applied once, or None when its find text is not there."""
    if edit.find and edit.find in html:
        return html.replace(edit.find, edit.replace, 1)
    pattern = _tolerant_pattern(edit.find)
    if pattern is None:
        return None
    match = pattern.search(html)
    if match is None:
        return None
    return html[: match.start()] + edit.replace + html[match.end() :]


def apply_edits(html: str, edits: Iterable[Edit]) -> EditOutcome:
    """Apply every edit in order; on any miss return the original HTML and the edits that missed."""
    current = html
    applied = 0
    failed: list[Edit] = []
    for edit in edits:
        result = apply_edit(current, edit)
        if result is None:
            failed.append(edit)
            continue
        current = result
        applied += 1
    if failed:
        return EditOutcome(html=html, applied=0, failed=tuple(failed))
    return EditOutcome(html=current, applied=applied, failed=())


def unified_diff(before: str, after: str, *, before_label: str = "before", after_label: str = "after") -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=before_label,
            tofile=after_label,
        )
    )
