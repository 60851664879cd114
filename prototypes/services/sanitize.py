"""Removing remote resources from model HTML before it is saved.

The preview is sandboxed and has no network (its CSP), so this is the second wall, and what
makes exports self-contained: a page that does not try to load anything from elsewhere
neither leaks a beacon when opened from disk nor breaks offline. Rules:

- `<script src>` (any source: the Tailwind CDN, analytics…) is removed with its body;
  inline scripts stay (the sandbox contains them; prototypes need menus and tabs).
- `<link>` with a remote `href` (stylesheets, fonts, preconnect…), `<base>`,
  `<meta http-equiv="refresh">`, `<iframe>`, `<frame>`, `<object>`, `<embed>`, `<applet>`,
  `<portal>` are removed.
- Remote images (`src`, `poster`, SVG `href`) become an inline placeholder; `srcset` and
  `ping` are dropped; a remote `action`/`formaction` is dropped; `javascript:` URLs are
  replaced by `#`.
- In `<style>` and `style=""`: `@import` of a remote sheet is removed and every remote
  `url(…)` (backgrounds, `@font-face` sources) becomes an empty data URL.

"Remote" means anything that is not `data:`, `blob:`, a fragment (`#…`) or empty: with no
network, a relative URL can load nothing either. Uses only the standard library's tokenizer;
the output re-emits untouched tokens byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

PLACEHOLDER_IMAGE = (
    "data:image/svg+xml;utf8,"
    "%3Csvg xmlns='http://www.w3.org/2000/svg' width='320' height='200' viewBox='0 0 320 200'%3E"
    "%3Crect width='320' height='200' fill='%23e5e7eb'/%3E"
    "%3Cpath d='M110 130l30-40 25 30 15-20 30 30z' fill='%239ca3af'/%3E%3C/svg%3E"
)
EMPTY_DATA_URL = "data:,"

# Removed together with everything inside them.
_DROP_WITH_CONTENT = frozenset({"iframe", "frame", "frameset", "object", "applet", "portal", "noembed"})
# Removed (void or harmless to keep the content of).
_DROP_TAG = frozenset({"base", "embed"})
_IMAGE_ATTRIBUTES = {"img": "src", "input": "src", "video": "poster", "image": "href", "source": "src"}
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "background"})

_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?([^"')\s;]+)["']?\s*\)?[^;]*;?""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""", re.IGNORECASE)


def is_remote(url: str | None) -> bool:
    if url is None:
        return False
    value = url.strip().lower()
    return not (value == "" or value.startswith(("data:", "blob:", "#")))


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")


def _remote_srcset(value: str) -> bool:
    return any(is_remote(candidate.split()[0]) for candidate in value.split(",") if candidate.split())


def _is_javascript(url: str | None) -> bool:
    return bool(url) and re.sub(r"[\s\x00-\x1f]", "", url or "").lower().startswith("javascript:")


def sanitize_css(css: str, notes: list[str]) -> str:
    def drop_import(match: re.Match[str]) -> str:
        if is_remote(match.group(1)):
            notes.append(f"removed @import {match.group(1)}")
            return ""
        return match.group(0)

    def neutralise_url(match: re.Match[str]) -> str:
        if is_remote(match.group(2)):
            notes.append(f"removed url({match.group(2)})")
            return f'url("{EMPTY_DATA_URL}")'
        return match.group(0)

    return _CSS_URL.sub(neutralise_url, _CSS_IMPORT.sub(drop_import, css))


@dataclass
class _Sanitizer(HTMLParser):
    notes: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    skip_until: str | None = None  # inside a dropped element: the tag whose end resumes output
    skip_depth: int = 0
    in_style: bool = False

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=False)

    # --- tags ------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        if self.skip_until is not None:
            if tag == self.skip_until and not self_closing:
                self.skip_depth += 1
            return
        values = dict(attrs)
        drop_reason = self._drop_reason(tag, values)
        if drop_reason:
            self.notes.append(drop_reason)
            if (tag in _DROP_WITH_CONTENT or tag == "script") and not self_closing:
                self.skip_until, self.skip_depth = tag, 1
            return
        new_attrs, changed = self._clean_attributes(tag, attrs)
        if tag == "style":
            self.in_style = not self_closing
        if not changed:
            self.out.append(self.get_starttag_text() or "")
            return
        rendered = "".join(
            f" {name}" if value is None else f' {name}="{_attribute(value)}"' for name, value in new_attrs
        )
        self.out.append(f"<{tag}{rendered}{' /' if self_closing else ''}>")

    def _drop_reason(self, tag: str, values: dict[str, str | None]) -> str:
        if tag == "script" and values.get("src") is not None:
            return f"removed <script src={values['src']}>"
        if tag in _DROP_WITH_CONTENT or tag in _DROP_TAG:
            return f"removed <{tag}>"
        if tag == "link" and is_remote(values.get("href")):
            return f"removed <link href={values['href']}>"
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            return "removed <meta http-equiv=refresh>"
        return ""

    def _clean_attributes(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> tuple[list[tuple[str, str | None]], bool]:
        cleaned: list[tuple[str, str | None]] = []
        changed = False
        image_attribute = _IMAGE_ATTRIBUTES.get(tag)
        for name, value in attrs:
            if name in ("srcset", "imagesrcset", "ping") and value and (name == "ping" or _remote_srcset(value)):
                self.notes.append(f"removed {name} on <{tag}>")
                changed = True
                continue
            if name in (image_attribute, "xlink:href") and tag in _IMAGE_ATTRIBUTES and is_remote(value):
                self.notes.append(f"replaced remote image {value}")
                cleaned.append((name, PLACEHOLDER_IMAGE))
                changed = True
                continue
            if name in ("action", "formaction") and is_remote(value):
                self.notes.append(f"removed {name}={value}")
                changed = True
                continue
            if name in _URL_ATTRIBUTES and _is_javascript(value):
                self.notes.append(f"replaced javascript: URL on <{tag}>")
                cleaned.append((name, "#"))
                changed = True
                continue
            if name in ("src", "data", "background") and tag not in ("a",) and is_remote(value):
                self.notes.append(f"removed {name}={value} on <{tag}>")
                changed = True
                continue
            if name == "style" and value:
                css = sanitize_css(value, self.notes)
                if css != value:
                    cleaned.append((name, css))
                    changed = True
                    continue
            cleaned.append((name, value))
        return cleaned, changed

    def handle_endtag(self, tag: str) -> None:
        if self.skip_until is not None:
            if tag == self.skip_until:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_until = None
            return
        if tag in _DROP_TAG:
            return
        if tag == "style":
            self.in_style = False
        self.out.append(f"</{tag}>")

    # --- everything else, re-emitted as it came ---------------------------------------

    def handle_data(self, data: str) -> None:
        if self.skip_until is not None:
            return
        self.out.append(sanitize_css(data, self.notes) if self.in_style else data)

    def handle_entityref(self, name: str) -> None:
        if self.skip_until is None:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if self.skip_until is None:
            self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        if self.skip_until is None:
            self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        if self.skip_until is None:
            self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        if self.skip_until is None:
            self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        if self.skip_until is None:
            self.out.append(f"<![{data}]>")


@dataclass(frozen=True)
class Sanitized:
    html: str
    notes: tuple[str, ...]


def sanitize_html(html: str) -> Sanitized:
    """`html` without remote resources, and a note per thing removed or changed."""
    sanitizer = _Sanitizer()
    sanitizer.feed(html)
    sanitizer.close()
    return Sanitized(html="".join(sanitizer.out), notes=tuple(sanitizer.notes))
