"""The attachment API: contract, owner scoping, error shape, schema, and storage on S3 over HTTP."""

import hashlib
import io

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from PIL import Image
from rest_framework.test import APIClient

from chat.models import Attachment
from chat.urls import attachment_urlpatterns
from tests.helpers import assert_error

# chat/urls.py mounts these routes under /api/v1/chat/; this module mounts them the same way.
urlpatterns = [
    path("api/v1/chat/", include(attachment_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + bytes(200)
UPLOAD_URL = "/api/v1/chat/attachments/"
VALIDATE_URL = "/api/v1/chat/validate-file/"


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(output, format=image_format)
    return output.getvalue()


def file_field(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def stranger(other_user) -> APIClient:
    api = APIClient()
    api.force_authenticate(other_user)
    return api


def test_upload_returns_the_attachment(client, user):
    response = client.post(
        UPLOAD_URL, {"file": file_field("chart.png", image_bytes(), "text/plain")}, format="multipart"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "kind", "format", "mime_type", "name", "size_bytes", "width", "height", "created_at"}
    assert (body["kind"], body["format"], body["mime_type"], body["name"]) == ("image", "png", "image/png", "chart.png")
    assert (body["width"], body["height"]) == (40, 30)
    assert Attachment.objects.get(id=body["id"]).user == user


def test_upload_needs_authentication():
    response = APIClient().post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart")

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"file": file_field("cat.png", ELF, "image/png")}, 415, "unsupported_file_type"),
        ({"file": file_field("report.pdf", image_bytes(), "application/pdf")}, 400, "file_type_mismatch"),
        ({"file": file_field("a.pdf", PDF), "model": "no-such-model"}, 400, "unknown_model"),
        ({}, 400, "invalid"),
    ],
)
def test_upload_errors_use_the_error_shape(client, data, status, code):
    response = client.post(UPLOAD_URL, data, format="multipart")

    assert_error(response, status, code)
    assert not Attachment.objects.exists()


def test_upload_over_the_cap_is_413(client, settings):
    settings.CHAT_MAX_UPLOAD_BYTES = 50

    response = client.post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart")

    error = assert_error(response, 413, "attachment_too_large")
    assert error["details"] == {"max_bytes": 50}


def test_a_body_declared_larger_than_the_cap_is_refused_before_parsing(client, settings, monkeypatch):
    settings.CHAT_MAX_UPLOAD_BYTES = 1000

    def parse_fails(*args, **kwargs):
        raise AssertionError("the body must not be parsed")

    monkeypatch.setattr("rest_framework.parsers.MultiPartParser.parse", parse_fails)
    body = {"file": file_field("big.pdf", PDF + bytes(200_000))}

    response = client.post(UPLOAD_URL, body, format="multipart")

    assert_error(response, 413, "attachment_too_large")


def test_detail_is_owner_only_and_has_a_download_url(client, stranger):
    attachment_id = client.post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart").json()["id"]
    url = f"{UPLOAD_URL}{attachment_id}/"

    response = client.get(url)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == attachment_id and body["message_id"] is None
    assert body["download_url"].startswith("http://testserver/media/chat/attachments/")
    assert_error(stranger.get(url), 404, "attachment_not_found")
    assert_error(stranger.delete(url), 404, "attachment_not_found")


def test_delete_removes_the_upload(client, media_root, django_capture_on_commit_callbacks):
    attachment_id = client.post(UPLOAD_URL, {"file": file_field("a.pdf", PDF)}, format="multipart").json()["id"]
    url = f"{UPLOAD_URL}{attachment_id}/"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(url)

    assert response.status_code == 204
    assert_error(client.get(url), 404, "attachment_not_found")
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_validate_file_answers_without_storing(client, settings, media_root):
    settings.LLM_MODELS = [{**model, "max_image_pixels": 500} for model in settings.LLM_MODELS]

    small = client.post(VALIDATE_URL, {"file": file_field("a.png", image_bytes())}, format="multipart")
    large = client.post(
        VALIDATE_URL, {"file": file_field("b.jpg", image_bytes("JPEG", (900, 300)))}, format="multipart"
    )
    document = client.post(VALIDATE_URL, {"file": file_field("c.pdf", PDF)}, format="multipart")

    assert small.status_code == 200
    assert small.json() == {
        "valid": True,
        "kind": "image",
        "format": "png",
        "mime_type": "image/png",
        "size_bytes": len(image_bytes()),
        "width": 40,
        "height": 30,
        "will_downscale": False,
    }
    assert large.json()["will_downscale"] is True
    assert document.json()["kind"] == "document" and document.json()["width"] is None
    assert not Attachment.objects.exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []


def test_validate_file_returns_the_error_an_upload_would_get(client):
    response = client.post(VALIDATE_URL, {"file": file_field("cat.png", ELF, "image/png")}, format="multipart")

    assert_error(response, 415, "unsupported_file_type")


def test_the_endpoints_are_in_the_schema_with_multipart_bodies(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    upload = schema["paths"]["/api/v1/chat/attachments/"]["post"]
    validate = schema["paths"]["/api/v1/chat/validate-file/"]["post"]
    detail = schema["paths"]["/api/v1/chat/attachments/{attachment_id}/"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "multipart/form-data" in validate["requestBody"]["content"]
    assert {"201", "413", "415"} <= set(upload["responses"])
    assert {"get", "delete"} <= set(detail)


def test_upload_is_stored_on_s3_and_served_through_a_signed_url(client, s3_server):
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3.create_bucket(Bucket="attachments")
    storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "attachments",
            "endpoint_url": s3_server,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
        },
    }
    data = image_bytes("JPEG", (64, 48))

    with override_settings(STORAGES={"default": storage}):  # resets the cached default storage
        created = client.post(UPLOAD_URL, {"file": file_field("holiday.jpg", data)}, format="multipart").json()
        detail = client.get(f"{UPLOAD_URL}{created['id']}/").json()

    attachment = Attachment.objects.get(id=created["id"])
    stored = s3.get_object(Bucket="attachments", Key=attachment.file.name)["Body"].read()
    assert stored == data
    assert hashlib.sha256(stored).hexdigest() == attachment.sha256
    assert "holiday" not in attachment.file.name
    assert detail["download_url"].startswith(f"{s3_server}/attachments/{attachment.file.name}")
    assert "X-Amz-Signature" in detail["download_url"]
