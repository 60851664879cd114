"""Sanitising model HTML before it is saved: an allowlist HTML sanitiser (ammonia, through nh3).

The preview is sandboxed and has no network (its CSP), so this is the second wall, and what
makes exports self-contained: a page that loads nothing from elsewhere neither leaks a beacon
when opened from disk nor breaks offline.

The page is parsed the way a browser parses it (html5ever, inside ammonia) and rebuilt from an
allowlist, so the tricks that fooled the former tokenizer-based filter — markup hidden in
comments or `<![CDATA[`, `<noscript>` re-parsing, SVG filter images — have nothing to hide in.
Prototypes keep what they need: inline `<script>` and `<style>`, event handlers, Tailwind
classes, forms, inline SVG. Rules:

- Elements not on the allowlist are unwrapped (their text kept); `<iframe>`, `<frame>`,
  `<object>`, `<embed>`, `<applet>`, `<portal>`, `<noscript>`, `<noembed>`, SVG
  `<foreignObject>` and `<feImage>` are removed with everything inside. `<base>`, `<meta
  http-equiv>` and every attribute not on the allowlist (`srcset`, `ping`, …) are dropped;
  comments are removed.
- `<script src>` (any source: the Tailwind CDN, analytics…) is removed with its body; should
  one survive that first textual pass (it only edits the input, ammonia still parses the
  result), its source becomes `data:,` (blocked by the CSP, empty offline), so neither the
  remote file nor its body runs. Inline scripts stay (the sandbox contains them; prototypes
  need menus and tabs).
- Remote images (`src`, `poster`, SVG `href`) become an inline placeholder; other remote
  resource URLs (`<link href>`, `<audio src>`, `action`, `formaction`, `data`, SVG `<use
  href>`) are dropped. Links (`<a href>`) may point anywhere (navigation loads no resource).
  `javascript:` and unknown URL schemes are dropped.
- CSS, in `<style>` and `style=""`: comments are removed and escapes decoded first (so
  `\\75 rl(` is seen as `url(`), then every `@import` is removed and every remote `url(…)`
  or URL string (as in `image-set("https://…" 1x)`) becomes an empty data URL.

"Remote" means anything that is not `data:`, `blob:`, a fragment (`#…`) or empty: with no
network, a relative URL can load nothing either. The page's `<html>`/`<body>` attributes and
the `<head>` (title, charset, viewport, styles, scripts) are kept, cleaned the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nh3

PLACEHOLDER_IMAGE = (
    "data:image/svg+xml;utf8,"
    "%3Csvg xmlns='http://www.w3.org/2000/svg' width='320' height='200' viewBox='0 0 320 200'%3E"
    "%3Crect width='320' height='200' fill='%23e5e7eb'/%3E"
    "%3Cpath d='M110 130l30-40 25 30 15-20 30 30z' fill='%239ca3af'/%3E%3C/svg%3E"
)
EMPTY_DATA_URL = "data:,"

_REMOVED_WITH_CONTENT = frozenset(
    {"iframe", "frame", "frameset", "object", "embed", "applet", "portal", "noscript", "noembed", "foreignObject"}
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HTML_TAGS = frozenset(nh3.ALLOWED_TAGS) | _words(
    """title meta style script link button form input select option optgroup textarea label fieldset legend
    nav header footer main section article aside figure figcaption details summary dialog template video audio
    source track picture progress meter output canvas svg mark time menu"""
)
_SVG_TAGS = _words(
    """g path circle ellipse line polyline polygon rect text tspan textPath defs symbol use image clipPath mask
    pattern marker linearGradient radialGradient stop desc animate animateTransform filter feGaussianBlur
    feOffset feBlend feColorMatrix feComposite feFlood feMerge feMergeNode feDropShadow feMorphology"""
)
_GENERIC_ATTRIBUTES = _words("class id style title role lang dir hidden tabindex name slot")
_TAG_ATTRIBUTES: dict[str, str] = {
    "a": "href target rel download",
    "area": "href alt shape coords",
    "img": "src alt width height loading decoding",
    "video": "src poster controls autoplay loop muted playsinline width height",
    "audio": "src controls autoplay loop muted",
    "source": "src type media",
    "track": "src kind srclang label default",
    "meta": "charset content",
    "link": "href rel type media",
    "script": "src type",
    "style": "media",
    "form": "action method autocomplete novalidate",
    "input": "type value placeholder checked disabled readonly required min max step pattern autocomplete "
    "autofocus multiple size maxlength minlength list src alt formaction",
    "button": "type value disabled formaction autofocus",
    "select": "disabled multiple required size autocomplete",
    "option": "value selected disabled label",
    "optgroup": "label disabled",
    "textarea": "placeholder rows cols disabled readonly required maxlength wrap",
    "label": "for",
    "details": "open",
    "dialog": "open",
    "progress": "value max",
    "meter": "value min max low high optimum",
    "output": "for",
    "canvas": "width height",
    "time": "datetime",
    "td": "colspan rowspan headers align valign",
    "th": "colspan rowspan headers scope align valign",
    "col": "span",
    "colgroup": "span",
    "ol": "start reversed type",
    "li": "value",
}
_SVG_ATTRIBUTES = _words(
    """viewBox xmlns xmlns:xlink width height x y x1 x2 y1 y2 cx cy r rx ry d points fill fill-rule fill-opacity
    clip-rule clip-path mask stroke stroke-width stroke-linecap stroke-linejoin stroke-dasharray
    stroke-dashoffset stroke-opacity stroke-miterlimit opacity transform offset stop-color stop-opacity
    gradientUnits gradientTransform patternUnits preserveAspectRatio text-anchor dominant-baseline font-size
    font-family font-weight href xlink:href filter stdDeviation dx dy in in2 result mode values operator
    flood-color flood-opacity attributeName from to dur repeatCount begin type markerWidth markerHeight refX
    refY orient vector-effect focusable aria-hidden"""
)
# Attributes whose URL makes the browser load something (as opposed to navigate to it).
_RESOURCE_ATTRIBUTES = frozenset({"src", "poster", "data", "background", "action", "formaction", "xlink:href"})
_IMAGE_TAGS = frozenset({"img", "image", "input"})

_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)
_CSS_IMPORT = re.compile(r"@import\b[^;]*;?", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""", re.IGNORECASE)
_CSS_STRING = re.compile(r"""(["'])((?:(?!\1).)*)\1""", re.DOTALL)
_URL_LIKE = re.compile(r"^\s*(//|[a-z][a-z0-9+.-]*:)", re.IGNORECASE)
_REMOVED_ELEMENT = re.compile(
    r"<\s*(iframe|frame|frameset|object|embed|applet|portal|noembed|noscript|base|foreignobject|feimage)\b",
    re.IGNORECASE,
)
# The content of a `<meta http-equiv="refresh">` (the http-equiv itself is never kept).
_META_REFRESH = re.compile(r"^\s*\d+(\.\d*)?\s*([;,]|$)")
# Attributes that load something and are never kept (ammonia drops them without asking the filter).
_DROPPED_ATTRIBUTE = re.compile(r"\s(srcset|imagesrcset|ping|http-equiv)\s*=", re.IGNORECASE)
# The page's skeleton, found in this order, each at most once; what lies between is content.
_SKELETON = (
    ("doctype", re.compile(r"<!doctype\b[^>]*>", re.IGNORECASE)),
    ("html", re.compile(r"<html\b([^>]*)>", re.IGNORECASE)),
    ("head", re.compile(r"<head\b[^>]*>", re.IGNORECASE)),
    ("/head", re.compile(r"</head\s*>", re.IGNORECASE)),
    ("body", re.compile(r"<body\b([^>]*)>", re.IGNORECASE)),
    ("/body", re.compile(r"</body\s*>", re.IGNORECASE)),
    ("/html", re.compile(r"</html\s*>", re.IGNORECASE)),
)
_SCRIPT_WITH_SOURCE = re.compile(
    r"<script\b[^>]*?\ssrc\s*=\s*([\"']?)([^\"'\s>]*)\1[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL
)
_DIV_ATTRIBUTES = re.compile(r"^<div([^>]*)>")


def is_remote(url: str | None) -> bool:
    if url is None:
        return False
    value = url.strip().lower()
    return not (value == "" or value.startswith(("data:", "blob:", "#")))


def _decode_css_escapes(css: str) -> str:
    def decode(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return match.group(2) if match.group(2) not in ("\n", "\r", "\f") else ""

    for _ in range(4):  # an escaped backslash could form a new escape: decode until stable
        decoded = _CSS_ESCAPE.sub(decode, css)
        if decoded == css:
            break
        css = decoded
    return css.replace("\\", "")


def sanitize_css(css: str, notes: list[str]) -> str:
    """`css` with no way to load a remote resource (see the module docstring)."""
    if not css:
        return css
    cleaned = _decode_css_escapes(_CSS_COMMENT.sub("", css)) if ("\\" in css or "/*" in css) else css

    def drop_import(match: re.Match[str]) -> str:
        notes.append(f"removed {match.group(0).strip()[:200]}")
        return ""

    def neutralise_url(match: re.Match[str]) -> str:
        if is_remote(match.group(2)):
            notes.append(f"removed url({match.group(2)[:200]})")
            return f'url("{EMPTY_DATA_URL}")'
        return match.group(0)

    def neutralise_string(match: re.Match[str]) -> str:
        if _URL_LIKE.match(match.group(2)) and is_remote(match.group(2)):
            notes.append(f"removed {match.group(2)[:200]}")
            return f'"{EMPTY_DATA_URL}"'
        return match.group(0)

    cleaned = _CSS_IMPORT.sub(drop_import, cleaned)
    cleaned = _CSS_URL.sub(neutralise_url, cleaned)
    return _CSS_STRING.sub(neutralise_string, cleaned)


def _attribute_filter(notes: list[str]) -> Any:
    def clean(tag: str, attribute: str, value: str) -> str | None:
        if attribute.startswith("on") or attribute in ("class", "id"):
            return value
        if attribute == "style":
            return sanitize_css(value, notes)
        if tag == "meta" and attribute == "content" and _META_REFRESH.match(value):
            notes.append("removed <meta http-equiv=refresh>")
            return None
        if tag == "script" and attribute == "src":
            notes.append(f"removed <script src={value[:200]}>")
            return EMPTY_DATA_URL
        if attribute not in _RESOURCE_ATTRIBUTES and not (attribute == "href" and tag not in ("a", "area")):
            return value
        if not is_remote(value):
            return value
        if tag in _IMAGE_TAGS and attribute in ("src", "href", "xlink:href"):
            notes.append(f"replaced remote image {value[:200]}")
            return PLACEHOLDER_IMAGE
        notes.append(f"removed {attribute}={value[:200]} on <{tag}>")
        return None

    return clean


def _cleaner(notes: list[str]) -> nh3.Cleaner:
    attributes = {tag: set(_words(names)) for tag, names in _TAG_ATTRIBUTES.items()}
    attributes["*"] = set(_GENERIC_ATTRIBUTES)
    for tag in _SVG_TAGS | {"svg"}:
        attributes[tag] = attributes.get(tag, set()) | _SVG_ATTRIBUTES
    return nh3.Cleaner(
        tags=set(_HTML_TAGS | _SVG_TAGS),
        clean_content_tags=set(_REMOVED_WITH_CONTENT),
        attributes=attributes,
        generic_attribute_prefixes={"on", "data-", "aria-"},
        attribute_filter=_attribute_filter(notes),
        url_schemes={"http", "https", "mailto", "tel", "sms", "data", "blob"},
        strip_comments=True,
        link_rel=None,
    )


def _clean_style_elements(html: str, notes: list[str]) -> str:
    """ammonia keeps `<style>` text as it is: its CSS goes through `sanitize_css`."""
    return re.sub(
        r"(<style\b[^>]*>)(.*?)(</style\s*>)",
        lambda match: match.group(1) + sanitize_css(match.group(2), notes) + match.group(3),
        html,
        flags=re.IGNORECASE | re.DOTALL,
    )


def _element_attributes(cleaner: nh3.Cleaner, raw: str) -> str:
    """The start-tag attributes `raw` of `<html>`/`<body>`, cleaned like any element's."""
    match = _DIV_ATTRIBUTES.match(cleaner.clean(f"<div{raw}></div>"))
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Sanitized:
    html: str
    notes: tuple[str, ...]


def sanitize_html(html: str) -> Sanitized:
    """`html` rebuilt from the allowlist without remote resources, and a note per thing removed or changed.

    A full page stays a full page: its skeleton (`<!DOCTYPE html>`, `<html>` and `<body>` with
    their cleaned attributes, `<head>`, and the closing tags it had, so a truncated page stays
    truncated) is kept with the whitespace around it, and each part between is sanitised on its
    own as a fragment. A misleading skeleton cannot let anything through: every part is cleaned.
    """
    notes: list[str] = [f"removed <{match.group(1).lower()}>" for match in _REMOVED_ELEMENT.finditer(html)]
    notes += [f"removed {match.group(1).lower()}" for match in _DROPPED_ATTRIBUTE.finditer(html)]
    cleaner = _cleaner(notes)

    def drop_script(match: re.Match[str]) -> str:
        notes.append(f"removed <script src={match.group(2)[:200]}>")
        return ""

    html = _SCRIPT_WITH_SOURCE.sub(drop_script, html)

    def content(part: str) -> str:
        return _clean_style_elements(cleaner.clean(part), notes) if part.strip() else part

    output: list[str] = []
    position = 0
    for name, pattern in _SKELETON:
        match = pattern.search(html, position)
        if match is None:
            continue
        output.append(content(html[position : match.start()]))
        if name == "doctype":
            output.append("<!DOCTYPE html>")
        elif name in ("html", "body"):
            output.append(f"<{name}{_element_attributes(cleaner, match.group(1))}>")
        else:
            output.append(f"<{name}>")
        position = match.end()
    output.append(content(html[position:]))
    return Sanitized(html="".join(output), notes=tuple(notes))
