"""Generating a version on the streaming engine (`backend.streaming`): the prototypes' adapter.

The engine owns the lifecycle (admission, the run, stop, checkpoints, the sweeper, shutdown,
replay); the version's raw answer is what streams (`raw_output`). Every version ends in
exactly one terminal state:

- `complete`: the answer held a whole page (or edits that applied) — sanitised and saved;
- `incomplete`: the answer was cut off (max tokens, or the stream failed after content):
  the partial page is kept for inspection but never used as the base of an edit;
- `error`: the model failed before answering, or the answer held no page;
- `cancelled`: the user pressed stop; `interrupted`: the process stopped.

An edit whose find-and-replace blocks do not apply falls back to a second call asking for
the whole page (its deltas carry `"phase": "rewrite"`); usage of both calls is summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from backend.llm.errors import FailureKind, LLMError
from backend.llm.types import StreamStop
from backend.streaming.engine import Engine, Failure, Outcome, Run
from prototypes.models import PrototypeVariant, PrototypeVersion
from prototypes.services import prompts
from prototypes.services.editing import unified_diff
from prototypes.services.outcome import Outcome as PageOutcome
from prototypes.services.outcome import outcome_of
from prototypes.services.parsing import AnswerParser
from prototypes.services.sanitize import sanitize_html
from prototypes.services.versions import Accepted, stream_ids

Status = PrototypeVersion.Status


@dataclass
class VersionRun:
    """What a version's run needs, and the parser of its answer as it streams."""

    accepted: Accepted
    parser: AnswerParser = field(default_factory=AnswerParser)

    @property
    def start_fields(self) -> dict[str, Any]:
        return self.accepted.ids

    @property
    def user_id(self) -> Any:
        request = self.accepted.request
        return request.context.user_id if request is not None else None


def _engine_outcome(page: PageOutcome, stop_reason: str) -> Outcome:
    fields = {
        "html_content": page.html,
        "summary": page.summary,
        "edit_mode": page.edit_mode,
        "sanitizer_notes": list(page.notes),
    }
    failed = page.status == Status.ERROR
    notice = Failure(page.error_code, page.error_message) if page.error_code else None
    return Outcome(
        status=page.status,
        stop_reason="" if failed else stop_reason,
        failure=notice if failed else None,
        note=None if failed else notice,
        fields=fields,
    )


class PrototypesAdapter:
    scope = "prototypes"
    record_model = PrototypeVersion
    text_field = "raw_output"

    def max_concurrent(self) -> int:
        return int(settings.PROTOTYPE_MAX_CONCURRENT_GENERATIONS)

    def running(self, *, user: Any) -> QuerySet[PrototypeVersion]:
        return PrototypeVersion.objects.filter(variant__prototype__project__user=user, status=Status.STREAMING)

    def prepare(self, admission: Any) -> None:
        return None

    def start_data(self, record: PrototypeVersion) -> dict[str, Any]:
        return stream_ids(record)

    def terminal_data(self, record: PrototypeVersion) -> dict[str, Any]:
        return {"version_id": str(record.id), "status": record.status}

    async def run(self, run: Run) -> Outcome:
        state: VersionRun = run.payload
        accepted = state.accepted
        assert accepted.request is not None, "a replayed request has no generation to run"
        is_edit = accepted.version.kind == PrototypeVersion.Kind.EDIT
        stop = await self._stream(run, state, accepted.request)
        page = outcome_of(
            parsed=state.parser.result(),
            stop_reason=stop.stop_reason,
            base_html=accepted.base_html,
            is_edit=is_edit,
            rewrite=False,
        )
        if page.needs_rewrite:
            state.parser = AnswerParser()
            run.text_parts.append("\n\n")
            request = prompts.rewrite_request(
                base_html=accepted.base_html,
                prompt=accepted.edit_prompt,
                user_id=accepted.request.context.user_id,
                version_id=accepted.version.id,
            )
            stop = await self._stream(run, state, request, phase="rewrite")
            page = outcome_of(
                parsed=state.parser.result(),
                stop_reason=stop.stop_reason,
                base_html=accepted.base_html,
                is_edit=True,
                rewrite=True,
            )
        outcome = _engine_outcome(page, stop.stop_reason.value)
        outcome.event_data = {"version_id": str(accepted.version.id), "status": outcome.status}
        return outcome

    @staticmethod
    async def _stream(run: Run, state: VersionRun, request: Any, phase: str = "") -> StreamStop:
        """One model call; the answer's parser is fed as the deltas arrive."""
        parts_before = len(run.text_parts)
        try:
            return await run.stream(request, **({"phase": phase} if phase else {}))
        finally:
            for text in run.text_parts[parts_before:]:
                state.parser.feed(text)

    def failed(self, run: Run, error: LLMError) -> Outcome:
        state: VersionRun = run.payload
        cut_off = error.after_content or error.kind is FailureKind.TRUNCATED
        parsed = state.parser.result()
        partial = sanitize_html(parsed.html) if parsed.html else None
        status = Status.INCOMPLETE if cut_off else Status.ERROR
        return Outcome(
            status=status,
            failure=Failure(error.code, error.message, error.retryable),
            fields={
                "html_content": partial.html if partial else "",
                "summary": parsed.summary,
                "sanitizer_notes": list(partial.notes) if partial else [],
            },
            event_data={"version_id": str(run.record_id), "status": status},
        )

    def finished(self, *, record: PrototypeVersion, outcome: Outcome) -> None:
        if record.html_content:
            base = record.base_version
            edited = base is not None and record.kind == PrototypeVersion.Kind.EDIT
            record.diff = unified_diff(
                base.html_content if edited and base else "",
                record.html_content,
                before_label=f"v{base.version_number}" if edited and base else "empty",
                after_label=f"v{record.version_number}",
            )
            record.save(update_fields=["diff"])
        PrototypeVariant.objects.filter(id=record.variant_id).update(updated_at=timezone.now())


engine = Engine(PrototypesAdapter())
