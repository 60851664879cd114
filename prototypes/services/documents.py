"""The served page: a stored version's HTML with the vendored Tailwind runtime inlined.

The preview has no network (its CSP) and an export must open offline, so the pinned
`@tailwindcss/browser` build (see `static/prototypes/vendor/README.md`) is inlined as a
`<script>` at the start of `<head>` instead of being linked. It is added when serving, not
stored with every version (it is ~290 KB).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

TAILWIND_VERSION = "4.3.4"
TAILWIND_PATH = (
    Path(__file__).resolve().parents[1]
    / "static"
    / "prototypes"
    / "vendor"
    / (f"tailwindcss-browser-{TAILWIND_VERSION}.js")
)
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
_HTML = re.compile(r"<html(\s[^>]*)?>", re.IGNORECASE)


@functools.cache
def tailwind_runtime() -> str:
    return TAILWIND_PATH.read_text(encoding="utf-8")


def render_document(html: str) -> str:
    """A complete, self-contained HTML document for `html` (a full page or a fragment)."""
    runtime = f"<script>{tailwind_runtime()}</script>"
    head = _HEAD.search(html)
    if head:
        return html[: head.end()] + runtime + html[head.end() :]
    root = _HTML.search(html)
    if root:
        return html[: root.end()] + f"<head>{runtime}</head>" + html[root.end() :]
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{runtime}</head><body>{html}</body></html>'
