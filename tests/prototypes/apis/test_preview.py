"""The preview page: signed, expiring, one version, sandboxed with no network, framed only by the app."""

from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from prototypes.services.documents import tailwind_runtime
from prototypes.services.preview import preview_link, preview_token
from tests.helpers import assert_error
from tests.prototypes.factories import VersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version():
    return VersionFactory()


def _path(version) -> str:
    return f"/prototype-preview/{preview_token(version_id=version.id)}/"


def test_the_preview_serves_the_page_with_tailwind_inlined_and_the_sandbox_headers(version):
    response = Client().get(_path(version))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert "<h1" in body and "Simple pricing" in body
    assert f"<script>{tailwind_runtime()}</script>" in body
    assert "cdn.tailwindcss.com" not in body and "jsdelivr" not in body
    csp = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert csp[0] == "sandbox allow-scripts allow-forms allow-popups"
    assert "allow-same-origin" not in response["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "img-src data: blob:",
        "font-src data:",
        "connect-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "frame-ancestors 'self' http://localhost:3000" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "X-Frame-Options" not in response  # frame-ancestors decides, not DENY
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies


@override_settings(
    PROTOTYPE_PREVIEW_BASE_URL="https://proto-usercontent.example",
    PROTOTYPE_PREVIEW_FRAME_ANCESTORS=["https://app.example", "https://admin.example/path"],
    ALLOWED_HOSTS=["proto-usercontent.example"],
)
def test_with_a_separate_preview_host_only_the_app_origins_may_frame(version):
    link = preview_link(version_id=version.id)
    response = Client(HTTP_HOST="proto-usercontent.example").get(_path(version))

    assert response.status_code == 200

    assert link.url.startswith("https://proto-usercontent.example/prototype-preview/")
    assert "frame-ancestors https://app.example https://admin.example" in response["Content-Security-Policy"]
    assert "'self'" not in response["Content-Security-Policy"]


@override_settings(
    PROTOTYPE_PREVIEW_BASE_URL="https://proto-usercontent.example",
    ALLOWED_HOSTS=["testserver", "proto-usercontent.example"],
)
def test_with_a_separate_preview_host_the_app_host_refuses_to_render_previews(version):
    path = _path(version)

    on_app_host = Client().get(path)
    on_preview_host = Client(HTTP_HOST="proto-usercontent.example").get(path)

    assert_error(on_app_host, 404, "preview_not_found")
    assert on_preview_host.status_code == 200


def test_a_tampered_token_is_a_404_in_the_error_shape(version):
    token = preview_token(version_id=version.id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    response = Client().get(f"/prototype-preview/{forged}/")

    assert_error(response, 404, "preview_not_found")


def test_a_token_for_another_version_cannot_be_built_from_one_version_id(version):
    other = VersionFactory()
    token = preview_token(version_id=version.id)
    swapped = str(other.id) + token[len(str(version.id)) :]

    response = Client().get(f"/prototype-preview/{swapped}/")

    assert response.status_code == 404


def test_an_expired_link_is_a_403_in_the_error_shape(version, monkeypatch):
    path = _path(version)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 301)

    response = Client().get(path)

    assert_error(response, 403, "preview_expired")


def test_a_link_just_inside_its_lifetime_still_works(version, monkeypatch):
    path = _path(version)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 290)

    assert Client().get(path).status_code == 200


def test_a_deleted_version_is_a_404(version):
    path = _path(version)
    version.delete()

    assert Client().get(path).status_code == 404


def test_the_preview_url_endpoint_is_owner_scoped_and_signs_a_link(version):
    owner, stranger = APIClient(), APIClient()
    owner.force_authenticate(version.variant.prototype.project.user)
    stranger.force_authenticate(VersionFactory().variant.prototype.project.user)

    response = owner.get(f"/api/v1/prototypes/versions/{version.id}/preview-url/")

    assert response.status_code == 200
    assert response.json()["url"].startswith("http://testserver/prototype-preview/")
    assert Client().get(response.json()["url"].removeprefix("http://testserver")).status_code == 200
    assert stranger.get(f"/api/v1/prototypes/versions/{version.id}/preview-url/").status_code == 404


def test_export_downloads_one_self_contained_file(version):
    client = APIClient()
    client.force_authenticate(version.variant.prototype.project.user)

    response = client.get(f"/api/v1/prototypes/versions/{version.id}/export/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="prototype-{version.variant.prototype_id}-v{version.version_number}.html"'
    )
    assert response["Content-Security-Policy"] == "sandbox"
    body = response.content.decode()
    assert body.count("<script>") == 1 and tailwind_runtime() in body
    assert "Simple pricing" in body
    assert 'src="http' not in body and "<link" not in body
