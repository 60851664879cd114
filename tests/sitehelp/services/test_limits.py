"""Who may call: origins of the widget's pages, and same-site form posts of the ask page."""

from __future__ import annotations

import pytest
from django.test import override_settings

from backend import errors
from sitehelp.services import limits

HOST = "https://help.example"


@override_settings(HELP_WIDGET_ALLOWED_ORIGINS=["https://shop.example/"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("", True),  # no browser page across sites
        (HOST, True),
        ("https://shop.example", True),
        ("http://shop.example", False),
        ("https://shop.example.evil.test", False),
        ("null", False),
    ],
)
def test_widget_origins(origin, allowed):
    assert limits.origin_allowed(origin=origin, host_origin=HOST) is allowed


@pytest.mark.parametrize(
    ("origin", "fetch_site", "allowed"),
    [
        (HOST, "same-origin", True),
        ("", "", True),  # not a browser: nothing to forge
        ("", "none", True),  # typed into the address bar
        ("https://evil.example", "", False),
        ("", "cross-site", False),
        ("", "same-site", False),  # a sibling subdomain is another site's page
        (HOST, "cross-site", False),
        ("null", "", False),  # a sandboxed frame of another site, in a browser without Sec-Fetch-Site
        ("null", "same-origin", True),  # the page itself under a no-referrer policy
    ],
)
def test_ask_form_posts_must_come_from_the_page_itself(origin, fetch_site, allowed):
    if allowed:
        limits.same_site_check(origin=origin, fetch_site=fetch_site, host_origin=HOST)
    else:
        with pytest.raises(errors.PermissionDenied):
            limits.same_site_check(origin=origin, fetch_site=fetch_site, host_origin=HOST)


@pytest.mark.parametrize(("question", "code"), [("", "question_empty"), ("\n  \t", "question_empty")])
def test_blank_questions_are_refused(question, code):
    with pytest.raises(errors.ValidationFailed) as refused:
        limits.question_check(question)

    assert refused.value.code == code


@override_settings(HELP_MAX_QUESTION_CHARS=5)
def test_questions_longer_than_the_setting_are_refused_with_the_limit():
    assert limits.question_check("  12345  ") == "12345"
    with pytest.raises(errors.ValidationFailed) as refused:
        limits.question_check("123456")

    assert (refused.value.code, refused.value.details) == ("question_too_long", {"max_chars": 5})
