"""GET /projects/{id}/search/: ranked chunks of the user's own project knowledge."""

from __future__ import annotations

import pytest

from chat.services.knowledge_index import knowledge_index
from retrieval.models import Chunk
from tests.chat.factories import ProjectFactory, ProjectKnowledgeFactory
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hashing_embedder")]

API = "/api/v1/chat"


def _indexed(user):
    project = ProjectFactory(user=user)
    for title, content in [("Oceans", "# Tides\nThe moon raises tides."), ("Kitchen", "# Bread\nBread needs yeast.")]:
        knowledge_index(knowledge_id=ProjectKnowledgeFactory(project=project, title=title, content=content).id)
    return project


def test_search_returns_ranked_chunks_of_the_project(user, client):
    project = _indexed(user)

    response = client.get(f"{API}/projects/{project.id}/search/", {"q": "bread yeast", "k": 1})

    assert response.status_code == 200
    [hit] = response.json()["results"]
    assert set(hit) == {"chunk_id", "knowledge_id", "title", "section", "text", "score"}
    assert (hit["title"], hit["section"], hit["text"]) == ("Kitchen", "Bread", "Bread needs yeast.")
    assert Chunk.objects.filter(id=hit["chunk_id"]).exists()


def test_another_users_project_is_not_found(other_user, client):
    project = _indexed(other_user)

    response = client.get(f"{API}/projects/{project.id}/search/", {"q": "bread"})

    assert_error(response, 404, "project_not_found")


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "bread", "k": 0}, {"q": "bread", "k": "many"}])
def test_bad_queries_are_400_in_the_error_shape(params, user, client):
    project = ProjectFactory(user=user)

    response = client.get(f"{API}/projects/{project.id}/search/", params)

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_deleting_knowledge_or_the_project_removes_its_chunks(user, client):
    project = _indexed(user)
    knowledge = project.knowledge.first()

    assert client.delete(f"{API}/knowledge/{knowledge.id}/").status_code == 204
    assert Chunk.objects.count() == 1
    assert client.delete(f"{API}/projects/{project.id}/").status_code == 204
    assert not Chunk.objects.exists()


def test_the_context_preview_says_which_knowledge_mode_the_chat_gets(settings, user, client):
    from tests.chat.factories import ChatFactory

    project = _indexed(user)
    chat = ChatFactory(user=user, project=project)

    whole = client.get(f"{API}/memories/context/", {"chat_id": str(chat.id), "q": "bread"}).json()["knowledge"]
    settings.CHAT_KNOWLEDGE_TOKEN_BUDGET = 1
    found = client.get(f"{API}/memories/context/", {"chat_id": str(chat.id), "q": "bread yeast"}).json()["knowledge"]
    outside = client.get(f"{API}/memories/context/", {"q": "bread"}).json()["knowledge"]

    assert (whole["mode"], whole["excerpts"]) == ("whole", [])
    assert found["mode"] == "retrieval" and found["budget_tokens"] == 1
    assert found["excerpts"][0]["title"] == "Kitchen" and found["excerpts"][0]["index"] == 1
    assert outside is None


def _pdf_with_text(text):
    """A one-page PDF whose text layer says `text` (Helvetica, no compression)."""
    content = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_an_uploaded_pdf_becomes_knowledge_and_unsupported_files_are_400(user, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = ProjectFactory(user=user)
    pdf = SimpleUploadedFile("tides.pdf", _pdf_with_text("The moon raises the tides"), "application/pdf")

    created = client.post(f"{API}/knowledge/upload/", {"project_id": str(project.id), "file": pdf}, format="multipart")
    image = SimpleUploadedFile("photo.png", b"\x89PNG", "image/png")
    refused = client.post(
        f"{API}/knowledge/upload/", {"project_id": str(project.id), "file": image}, format="multipart"
    )
    foreign = client.post(
        f"{API}/knowledge/upload/",
        {"project_id": str(ProjectFactory().id), "file": SimpleUploadedFile("a.md", b"# A\ntext")},
        format="multipart",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["title"] == "tides.pdf" and "moon raises the tides" in created.json()["content"]
    assert_error(refused, 400, "unsupported_document_format")
    assert foreign.status_code == 404
