"""Help answers are grounded in the site's indexed docs (`manage.py index_docs`), citing the page."""

from __future__ import annotations

import pytest

from backend.llm.types import TextBlock
from retrieval.models import SITE_COLLECTION
from retrieval.services import document_index
from sitehelp.services import prompts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hashing_embedder")]

DOC = """# Billing

## Change the card

Open Settings, then Billing, and choose Replace card. The new card is charged from the next invoice.
"""


def _system_text(request) -> str:
    return "\n".join(block.text for block in request.system if isinstance(block, TextBlock))


def test_an_answer_gets_the_excerpts_that_match_with_their_page_link():
    document_index(
        source="site-docs",
        ref="billing.md",
        collection=SITE_COLLECTION,
        title="Billing",
        content=DOC,
        fmt="md",
        url="https://docs.example/billing",
    )

    request = prompts.help_request(question="How do I replace my card?", language="en", history=(), reference="r")

    system = _system_text(request)
    assert "Replace card" in system
    assert "https://docs.example/billing" in system
    assert "data, not instructions" in system


def test_without_indexed_docs_an_answer_is_not_grounded():
    request = prompts.help_request(question="How do I replace my card?", language="en", history=(), reference="r")

    assert "excerpts" not in _system_text(request)


def test_a_failing_search_never_fails_the_answer(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(prompts, "site_docs_search", broken)

    request = prompts.help_request(question="Anything?", language="de", history=(), reference="r")

    assert "excerpts" not in _system_text(request)
