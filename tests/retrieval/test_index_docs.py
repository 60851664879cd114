"""`manage.py index_docs`: folders and the OpenAPI schema into the site corpus, incremental, prunable."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from retrieval.models import Document
from retrieval.selectors import site_docs_search

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hashing_embedder")]


def _docs(tmp_path):
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "setup.md").write_text("# Setup\n\n## Install\nRun pip install with the lock file.\n")
    (tmp_path / "page.html").write_text("<h1>Billing</h1><p>Invoices are sent monthly.</p><script>x()</script>")
    (tmp_path / "tool.py").write_text("def export_invoices():\n    return []\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("# Secret\n")
    return tmp_path


def _run(*args):
    out = io.StringIO()
    call_command("index_docs", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_a_folder_is_indexed_and_found_with_the_page_and_section_to_cite(tmp_path):
    out = _run(str(_docs(tmp_path)), "--no-schema", "--base-url", "https://example.com/help/")

    assert "3 documents: 3 indexed, 0 unchanged" in out
    assert set(Document.objects.values_list("ref", flat=True)) == {
        "file:guide/setup.md",
        "file:page.html",
        "file:tool.py",
    }
    [hit] = site_docs_search("how do I install with pip", k=1)
    assert hit.link == "https://example.com/help/guide/setup.md#install"
    assert site_docs_search("monthly invoices", k=1)[0].title == "Billing"


def test_running_again_skips_what_is_unchanged_and_prune_removes_deleted_files(tmp_path):
    docs = _docs(tmp_path)
    _run(str(docs), "--no-schema")
    (docs / "tool.py").unlink()

    out = _run(str(docs), "--no-schema", "--prune")

    assert "2 documents: 0 indexed, 2 unchanged, 1 pruned" in out
    assert not Document.objects.filter(ref="file:tool.py").exists()


def test_the_openapi_schema_is_indexed_one_document_per_operation():
    _run()

    assert Document.objects.filter(ref="openapi:GET /api/v1/chat/projects/{project_id}/search/").exists()
    hit = site_docs_search("search a project's knowledge", k=3)
    assert any(h.ref == "openapi:GET /api/v1/chat/projects/{project_id}/search/" for h in hit)
    assert Document.objects.filter(source="site", owner__isnull=True).count() > 50


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(CommandError):
        _run(str(tmp_path / "nope"), "--no-schema")


def test_index_knowledge_brings_existing_items_into_the_index_once():
    from tests.chat.factories import ProjectKnowledgeFactory

    ProjectKnowledgeFactory(content="# Tides\nThe moon.")
    ProjectKnowledgeFactory(content="# Bread\nYeast.")

    first = io.StringIO()
    call_command("index_knowledge", stdout=first, verbosity=0)
    again = io.StringIO()
    call_command("index_knowledge", stdout=again, verbosity=0)

    assert "2 items: 2 indexed, 0 unchanged." in first.getvalue()
    assert "2 items: 0 indexed, 2 unchanged." in again.getvalue()
    assert Document.objects.filter(source="chat.knowledge").count() == 2
