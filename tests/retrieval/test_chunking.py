"""Chunking: structure first (Markdown headings, code definitions, HTML), then token windows with overlap."""

from __future__ import annotations

import pytest

from backend.embeddings import word_spans
from backend.errors import ValidationFailed
from retrieval.chunking import chunk_text, extract_text, format_of, html_to_markdown, markdown_sections


def test_markdown_sections_follow_headings_and_keep_their_path():
    text = "# Guide\nintro\n## Setup\nsteps\n```\n# not a heading\n```\n### Linux\napt\n## Usage\nrun it\n"
    sections = markdown_sections(text)
    assert [(s.heading, s.anchor) for s in sections] == [
        ("Guide", "guide"),
        ("Guide > Setup", "setup"),
        ("Guide > Setup > Linux", "linux"),
        ("Guide > Usage", "usage"),
    ]
    assert "# not a heading" in sections[1].text


def test_long_sections_become_overlapping_windows_of_at_most_size_tokens():
    text = " ".join(f"w{i}" for i in range(100))
    drafts = chunk_text(text, fmt="text", token_spans=word_spans, size=30, overlap=5)
    assert all(draft.token_count <= 30 for draft in drafts)
    words = [draft.text.split() for draft in drafts]
    assert words[0][-5:] == words[1][:5]  # the overlap
    assert {w for chunk in words for w in chunk} == {f"w{i}" for i in range(100)}  # nothing lost


def test_windows_prefer_to_end_at_a_sentence():
    text = ("alpha " * 20).strip() + ". " + ("beta " * 20).strip() + "."
    drafts = chunk_text(text, fmt="text", token_spans=word_spans, size=26, overlap=0)
    assert drafts[0].text.endswith("alpha.")


def test_code_is_cut_at_top_level_definitions_with_their_decorators():
    code = "import os\n\n@decorator\ndef one():\n    return 1\n\n\nclass Two:\n    pass\n"
    drafts = chunk_text(code, fmt="code", token_spans=word_spans, size=200, overlap=10, name="mod.py")
    assert [d.heading for d in drafts] == ["mod.py", "mod.py > def one()", "mod.py > class Two"]
    assert drafts[1].text.startswith("@decorator")


def test_html_headings_become_sections_and_scripts_are_dropped():
    html = "<html><head><title>x</title></head><body><h1>Title</h1><p>Body</p><script>evil()</script></body></html>"
    assert html_to_markdown(html) == "# Title\n\nBody"


def test_formats_by_name_and_unsupported_files_are_refused():
    assert format_of("a/README.md") == "md"
    assert format_of("x.py") == "code"
    with pytest.raises(ValidationFailed) as raised:
        format_of("image.png")
    assert raised.value.code == "unsupported_document_format"


def test_pdf_text_is_extracted_and_a_broken_pdf_is_a_validation_error():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    import io

    buffer = io.BytesIO()
    writer.write(buffer)
    assert extract_text(data=buffer.getvalue(), fmt="pdf") == ""
    with pytest.raises(ValidationFailed) as raised:
        extract_text(data=b"%PDF-1.4 garbage", fmt="pdf")
    assert raised.value.code == "unreadable_document"
