"""Avatar uploads: only real raster images, re-encoded (no EXIF), random names, size limits."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from appauth.models import AppUser
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/profile/"


def _image_bytes(fmt="PNG", size=(64, 48), exif=None, color=(200, 30, 30)):
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _upload(client, content, name="avatar.png", content_type="image/png"):
    return client.patch(URL, {"avatar": SimpleUploadedFile(name, content, content_type)}, format="multipart")


def test_an_avatar_is_stored_as_a_fresh_png_under_a_random_name(auth_client, user, media_root):
    response = _upload(auth_client, _image_bytes("JPEG", size=(2000, 1000)), name="../../etc/passwd.jpg")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.avatar.name.startswith(f"avatars/{user.pk}/")
    assert user.avatar.name.endswith(".png")
    assert "passwd" not in user.avatar.name and ".." not in user.avatar.name
    with Image.open(user.avatar.path) as stored:
        assert stored.format == "PNG"
        assert max(stored.size) == 512
    assert response.json()["avatar"].endswith(".png")


def test_exif_metadata_is_stripped(auth_client, user, media_root):
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS info
    content = _image_bytes("JPEG", exif=exif.tobytes())
    assert b"SecretCameraMaker" in content

    _upload(auth_client, content, name="photo.jpg", content_type="image/jpeg")

    user.refresh_from_db()
    stored = user.avatar.read()
    assert b"SecretCameraMaker" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif()


def test_replacing_and_removing_an_avatar_deletes_the_old_file(auth_client, user, media_root, run_on_commit):
    with run_on_commit():
        _upload(auth_client, _image_bytes())
    user.refresh_from_db()
    first = user.avatar.name

    with run_on_commit():
        _upload(auth_client, _image_bytes(color=(0, 0, 255)))
    user.refresh_from_db()
    assert user.avatar.name != first
    assert not user.avatar.storage.exists(first)

    with run_on_commit():
        response = auth_client.patch(URL, {"avatar": None}, format="json")
    assert response.json()["avatar"] is None
    assert not AppUser.objects.get(pk=user.pk).avatar


def test_oversize_files_are_refused(auth_client, settings, media_root):
    settings.AUTH_AVATAR_MAX_BYTES = 1000

    response = _upload(auth_client, _image_bytes(size=(400, 400)) + b"\0" * 2000)

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg", "image/svg+xml"),
        (b"%PDF-1.4 not an image", "a.png", "image/png"),
        (b"", "empty.png", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "truncated.png", "image/png"),
    ],
    ids=["svg", "pdf", "empty", "truncated-png"],
)
def test_non_images_are_refused(auth_client, user, media_root, content, name, content_type):
    response = _upload(auth_client, content, name=name, content_type=content_type)

    assert response.status_code == 400
    assert "avatar" in response.json()["error"]["details"]
    user.refresh_from_db()
    assert not user.avatar


def test_other_formats_pillow_knows_are_refused(auth_client, media_root):
    response = _upload(auth_client, _image_bytes("BMP"), name="a.bmp", content_type="image/bmp")

    assert response.status_code == 400


def test_decompression_bombs_are_refused_before_decoding(auth_client, settings, media_root):
    settings.AUTH_AVATAR_MAX_PIXELS = 1000 * 1000
    bomb = _image_bytes("PNG", size=(5000, 5000), color=(0, 0, 0))  # compresses to a few KB
    assert len(bomb) < 100_000

    response = _upload(auth_client, bomb)

    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"]
