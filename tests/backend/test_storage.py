"""User files are served as downloads of a fixed type: never as a page of the app's origin (disk and S3)."""

from __future__ import annotations

import boto3
import httpx
import pytest
from django.core.files.base import ContentFile

from backend.storage import MEDIA_CSP, MediaS3Storage, media_headers, media_serve

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
# A valid PNG signature followed by HTML: a polyglot a sniffing browser could render as a page.
POLYGLOT = b"\x89PNG\r\n\x1a\n" + HTML


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("attachments/3f2a.html", "application/octet-stream"),
        ("attachments/3f2a.pdf", "application/octet-stream"),
        ("attachments/3f2a.txt", "application/octet-stream"),
        ("attachments/3f2a.svg", "application/octet-stream"),
        ("attachments/3f2a.png", "image/png"),
        ("avatars/a.JPEG", "image/jpeg"),
    ],
)
def test_every_user_file_is_a_download_of_a_fixed_type(name, content_type):
    headers = media_headers(name)

    assert headers["Content-Type"] == content_type
    assert headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("name", "data", "content_type"), [("x.html", HTML, "application/octet-stream"), ("x.png", POLYGLOT, "image/png")]
)
def test_files_on_the_local_disk_are_served_with_nosniff_and_a_sandbox_csp(rf, tmp_path, name, data, content_type):
    (tmp_path / name).write_bytes(data)

    response = media_serve(rf.get(f"/media/{name}"), name, document_root=str(tmp_path))

    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == MEDIA_CSP


def test_on_s3_the_type_and_disposition_are_stored_at_upload_and_signed_into_the_url(s3_server):
    credentials = {"access_key": "test", "secret_key": "test", "region_name": "us-east-1"}
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    s3.create_bucket(Bucket="media")
    storage = MediaS3Storage(bucket_name="media", endpoint_url=s3_server, **credentials)

    name = storage.save("attachments/page.html", ContentFile(HTML))
    stored = s3.head_object(Bucket="media", Key=name)
    served = httpx.get(storage.url(name))

    assert stored["ContentType"] == "application/octet-stream"
    assert stored["ContentDisposition"].startswith("attachment;")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment;")
