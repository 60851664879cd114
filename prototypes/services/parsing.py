"""Incremental parser of the model's answer.

The prompts ask for the page wrapped as `<prototype_file name="index.html">…</prototype_file>`
(or, for edits, `<prototype_edit><find>…</find><replace>…</replace></prototype_edit>` blocks);
everything outside those tags is the assistant's change summary. The answer arrives in
arbitrary chunks, so a tag may be split anywhere: the parser keeps back only the tail that
could still become a tag and never rescans what it has consumed.

A tag opened but never closed means the answer was cut off (`complete` is False).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FILE_TAG = "prototype_file"
EDIT_TAG = "prototype_edit"
_OPEN = re.compile(r"<(prototype_file|prototype_edit)(\s[^<>]*)?>")
_NAME = re.compile(r"""name\s*=\s*["']([^"']*)["']""")
_EDIT_BLOCK = re.compile(r"<find>\n?(.*?)\n?</find>\s*<replace>\n?(.*?)\n?</replace>", re.DOTALL)
# The longest prefix of an opening tag we must hold back while waiting for its end.
_OPEN_PREFIXES = ("<prototype_file", "<prototype_edit")


@dataclass(frozen=True)
class Edit:
    find: str
    replace: str


@dataclass
class Section:
    tag: str
    name: str
    parts: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def content(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class ParsedAnswer:
    files: dict[str, str]
    edits: tuple[Edit, ...]
    summary: str
    complete: bool  # every tag that was opened was closed
    has_output: bool  # at least one file or edit block was found

    @property
    def html(self) -> str | None:
        """The page: `index.html` if named, else the first file."""
        if not self.files:
            return None
        return self.files.get("index.html", next(iter(self.files.values())))


class AnswerParser:
    """Feed chunks with `feed`; read `result()` at any time (e.g. the partial page so far)."""

    def __init__(self) -> None:
        self._pending = ""
        self._summary: list[str] = []
        self._sections: list[Section] = []
        self._current: Section | None = None

    def feed(self, chunk: str) -> None:
        self._pending += chunk
        while self._pending:
            if self._current is None:
                if not self._consume_outside():
                    return
            elif not self._consume_inside(self._current):
                return

    def _consume_outside(self) -> bool:
        """Consume text outside a tag; False when the rest must wait for more input."""
        text = self._pending
        start = text.find("<")
        while start != -1:
            match = _OPEN.match(text, start)
            if match:
                self._summary.append(text[:start])
                name_match = _NAME.search(match.group(2) or "")
                self._current = Section(tag=match.group(1), name=name_match.group(1) if name_match else "index.html")
                self._sections.append(self._current)
                self._pending = text[match.end() :]
                return True
            rest = text[start:]
            if ">" not in rest and any(p.startswith(rest[: len(p)]) for p in _OPEN_PREFIXES):
                # Could still become an opening tag: keep it back.
                self._summary.append(text[:start])
                self._pending = rest
                return False
            start = text.find("<", start + 1)
        self._summary.append(text)
        self._pending = ""
        return False

    def _consume_inside(self, section: Section) -> bool:
        closing = f"</{section.tag}>"
        text = self._pending
        end = text.find(closing)
        if end != -1:
            section.parts.append(text[:end])
            section.closed = True
            self._current = None
            self._pending = text[end + len(closing) :]
            return True
        # Keep back a tail that could be the start of the closing tag.
        keep = 0
        for size in range(min(len(closing) - 1, len(text)), 0, -1):
            if closing.startswith(text[-size:]):
                keep = size
                break
        section.parts.append(text[: len(text) - keep])
        self._pending = text[len(text) - keep :]
        return False

    def result(self) -> ParsedAnswer:
        summary = "".join(self._summary)
        if self._current is None:
            summary += self._pending
        files: dict[str, str] = {}
        edits: list[Edit] = []
        for section in self._sections:
            if section.tag == FILE_TAG:
                files[section.name] = section.content.strip("\n")
            else:
                edits.extend(Edit(find=f, replace=r) for f, r in _EDIT_BLOCK.findall(section.content))
        return ParsedAnswer(
            files=files,
            edits=tuple(edits),
            summary=_clean_summary(summary),
            complete=self._current is None,
            has_output=bool(files or edits),
        )


def _clean_summary(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse_answer(text: str) -> ParsedAnswer:
    parser = AnswerParser()
    parser.feed(text)
    return parser.result()
