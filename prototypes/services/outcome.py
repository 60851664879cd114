"""What a finished answer makes of a version (pure: no database, no model).

See `generation.py` for the states; this decides between them from the parsed answer and
the stop reason, applies find-and-replace edits, and sanitises the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.llm.types import StopReason
from prototypes.errors import ErrorCode
from prototypes.models import PrototypeVersion
from prototypes.services.editing import apply_edits
from prototypes.services.parsing import ParsedAnswer
from prototypes.services.sanitize import sanitize_html

Status = PrototypeVersion.Status


@dataclass(frozen=True)
class Outcome:
    status: str
    html: str = ""
    summary: str = ""
    edit_mode: str = ""
    notes: tuple[str, ...] = ()
    error_code: str = ""
    error_message: str = ""
    needs_rewrite: bool = False


def outcome_of(
    *, parsed: ParsedAnswer, stop_reason: StopReason, base_html: str, is_edit: bool, rewrite: bool
) -> Outcome:
    """What a finished answer makes of the version."""
    cut_off = stop_reason is StopReason.MAX_TOKENS or not parsed.complete
    if parsed.html is not None:
        sanitized = sanitize_html(parsed.html)
        mode = PrototypeVersion.EditMode.REWRITE if rewrite else PrototypeVersion.EditMode.FULL
        return Outcome(
            status=Status.INCOMPLETE if cut_off else Status.COMPLETE,
            html=sanitized.html,
            summary=parsed.summary,
            edit_mode=mode if is_edit else "",
            notes=sanitized.notes,
            error_code=ErrorCode.MAX_TOKENS if cut_off else "",
            error_message="The answer was cut off before the page was complete." if cut_off else "",
        )
    if is_edit and parsed.edits and not cut_off and not rewrite:
        applied = apply_edits(base_html, parsed.edits)
        if not applied.ok:
            return Outcome(status=Status.STREAMING, needs_rewrite=True, summary=parsed.summary)
        sanitized = sanitize_html(applied.html)
        return Outcome(
            status=Status.COMPLETE,
            html=sanitized.html,
            summary=parsed.summary,
            edit_mode=PrototypeVersion.EditMode.PATCH,
            notes=sanitized.notes,
        )
    if cut_off:
        return Outcome(
            status=Status.INCOMPLETE,
            html=base_html if is_edit else "",
            summary=parsed.summary,
            error_code=ErrorCode.MAX_TOKENS,
            error_message="The answer was cut off before it was complete.",
        )
    return Outcome(
        status=Status.ERROR,
        summary=parsed.summary,
        error_code=ErrorCode.NO_PROTOTYPE_IN_ANSWER,
        error_message="The answer held no prototype page.",
    )
