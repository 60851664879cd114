"""Text extraction and chunking: documents cut into token windows that follow their structure.

A document is first split into sections — Markdown (and HTML) by headings, code by its
top-level definitions, anything else as one section — and each section into windows of at
most `size` tokens of the embedder's own tokenizer, overlapping by `overlap` tokens. Every
chunk keeps its section's heading path ("Guide > Setup"), which is also embedded with it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from backend.errors import ValidationFailed
from retrieval.errors import ErrorCode

MARKDOWN = "md"
HTML = "html"
CODE = "code"
TEXT = "text"
PDF = "pdf"

CODE_SUFFIXES = {".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".rb", ".php", ".c", ".h", ".cpp", ".sh"}
SUFFIX_FORMATS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".html": HTML, ".htm": HTML, ".txt": TEXT, ".pdf": PDF}
SUFFIX_FORMATS.update(dict.fromkeys(CODE_SUFFIXES, CODE))

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# A top-level definition in the common languages: where a code file is cut into sections.
_DEFINITION = re.compile(
    r"^(?:async\s+def|def|class|function|func|fn|pub\s+fn|interface|type|const|export\s+\w+|impl|struct)\b"
)


@dataclass(frozen=True)
class Section:
    heading: str
    anchor: str
    text: str


@dataclass(frozen=True)
class Draft:
    """A chunk before it is embedded and stored."""

    heading: str
    anchor: str
    text: str
    token_count: int

    @property
    def embedding_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text


def format_of(name: str) -> str:
    """The format of a file by its name; ValidationFailed for one that cannot be indexed."""
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    fmt = SUFFIX_FORMATS.get(suffix)
    if fmt is None:
        raise ValidationFailed(
            f"Files of type {suffix or '(none)'} cannot be indexed.", code=ErrorCode.UNSUPPORTED_FORMAT
        )
    return fmt


def extract_text(*, data: bytes, fmt: str) -> str:
    """The text of a file's bytes: PDF pages through pypdf, everything else decoded as UTF-8."""
    if fmt == PDF:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(io.BytesIO(data))
            return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
        except (PdfReadError, ValueError, KeyError) as exc:
            raise ValidationFailed("The PDF could not be read.", code=ErrorCode.UNREADABLE_DOCUMENT) from exc
    return data.decode("utf-8", errors="replace")


def slugify_anchor(heading: str) -> str:
    """A GitHub-style fragment for a heading: lower case, punctuation dropped, spaces to dashes."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r"\s", "-", slug)


def markdown_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def close() -> None:
        body = "\n".join(lines).strip()
        if body:
            heading = " > ".join(title for _, title in path)
            sections.append(Section(heading, slugify_anchor(path[-1][1]) if path else "", body))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            close()
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, match.group(2).strip()))
        else:
            lines.append(line)
    close()
    return sections


def code_sections(text: str, *, name: str = "") -> list[Section]:
    """A code file cut before each top-level definition (decorators and comments stay with it)."""
    sections: list[Section] = []
    current: list[str] = []
    heading = name
    for line in text.splitlines():
        if _DEFINITION.match(line) and current:
            # Leading decorators/comments directly above belong to the definition that follows.
            carried: list[str] = []
            while current and (current[-1].startswith(("@", "#", "//")) and current[-1].strip()):
                carried.insert(0, current.pop())
            if "\n".join(current).strip():
                sections.append(Section(heading, "", "\n".join(current).strip("\n")))
            current = carried
            heading = f"{name} > {line.strip().rstrip(':{').strip()}" if name else line.strip().rstrip(":{").strip()
        current.append(line)
    if "\n".join(current).strip():
        sections.append(Section(heading, "", "\n".join(current).strip("\n")))
    return sections


class _HTMLText(HTMLParser):
    """HTML to Markdown-ish text: headings become `#` lines, scripts and styles are dropped."""

    SKIP = {"script", "style", "nav", "footer", "head"}
    BLOCK = {"p", "div", "li", "tr", "br", "pre", "section", "article", "table", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_markdown(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


def sections_of(text: str, *, fmt: str, name: str = "") -> list[Section]:
    if fmt == HTML:
        return markdown_sections(html_to_markdown(text))
    if fmt == MARKDOWN:
        return markdown_sections(text)
    if fmt == CODE:
        return code_sections(text, name=name)
    body = text.strip()
    return [Section("", "", body)] if body else []


def chunk_text(
    text: str,
    *,
    fmt: str,
    token_spans: Callable[[str], list[tuple[int, int]]],
    size: int,
    overlap: int,
    name: str = "",
) -> list[Draft]:
    """The chunks of a document: each section cut into windows of `size` tokens, `overlap` shared."""
    if not 0 <= overlap < size:
        raise ValueError("overlap must be smaller than size")
    drafts: list[Draft] = []
    for section in sections_of(text, fmt=fmt, name=name):
        spans = token_spans(section.text)
        if not spans:
            continue
        start = 0
        while True:
            end = min(start + size, len(spans))
            if end < len(spans):
                end = _soft_end(section.text, spans, start, end, size)
            piece = section.text[spans[start][0] : spans[end - 1][1]].strip()
            if piece:
                drafts.append(Draft(section.heading, section.anchor, piece, end - start))
            if end >= len(spans):
                break
            start = max(end - overlap, start + 1)
    return drafts


def _soft_end(text: str, spans: list[tuple[int, int]], start: int, end: int, size: int) -> int:
    """Move a window's end back (by at most a quarter of it) to just after a sentence or line end."""
    floor = start + (3 * size) // 4
    for index in range(end, floor, -1):
        token = text[spans[index - 1][0] : spans[index - 1][1]]
        following = text[spans[index - 1][1] : spans[index][0]] if index < len(spans) else ""
        if token in {".", "!", "?", ":"} or "\n" in following:
            return index
    return end
