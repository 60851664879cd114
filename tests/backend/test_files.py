"""The file adapter: MIME sniffing from bytes, image inspection and downscaling, bomb guards."""

import io
import os
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from backend import files


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (40, 30), **save_options) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(output, format=image_format, **save_options)
    return output.getvalue()


def noisy_png(size: tuple[int, int]) -> bytes:
    """Random pixels: PNG cannot compress them, so the file is about 3 bytes per pixel."""
    output = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(output, format="PNG")
    return output.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels (a decompression bomb's shape)."""
    data = bytearray(image_bytes("PNG", (1, 1)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def zip_bytes(*names: str) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return output.getvalue()


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("GIF"), "image/gif"),
        (image_bytes("WEBP"), "image/webp"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", "application/pdf"),
        (b"<!DOCTYPE html><html><body><p>hi</p></body></html>", "text/html"),
        (b"just some words\n", "text/plain"),
        (
            zip_bytes("[Content_Types].xml", "_rels/.rels", "word/document.xml"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_sniff_mime_reads_the_type_from_the_bytes(data, mime):
    assert files.sniff_mime(data) == mime


def test_ooxml_format_looks_inside_zips_libmagic_calls_plain_zip():
    word = zip_bytes("_rels/.rels", "word/document.xml", "[Content_Types].xml")
    excel = zip_bytes("xl/workbook.xml", "[Content_Types].xml")

    assert files.sniff_mime(word) == "application/zip"
    assert files.ooxml_format(word) == "docx"
    assert files.ooxml_format(excel) == "xlsx"
    assert files.ooxml_format(zip_bytes("readme.txt")) is None
    assert files.ooxml_format(b"not a zip") is None


def test_image_size_reports_the_displayed_size_after_exif_rotation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = image_bytes("JPEG", (40, 20), exif=exif)

    info = files.inspect_image(data)

    assert (info.width, info.height, info.rotated, info.format) == (20, 40, True, "jpeg")
    assert files.image_size(image_bytes("PNG", (40, 20))) == (40, 20)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n garbage", b"plain text", png_claiming_size(20_000, 20_000)])
def test_undecodable_images_and_bombs_are_invalid(data):
    with pytest.raises(files.InvalidImage):
        files.inspect_image(data)


def test_a_bomb_just_over_the_decode_limit_is_refused_before_decoding():
    bomb = png_claiming_size(11_000, 10_000)  # 110 megapixels from a 70-byte file

    with pytest.raises(files.InvalidImage):
        files.downscale_image(bomb, max_pixels_side=500, max_bytes=50_000)


def test_downscale_keeps_the_aspect_ratio_and_format():
    result = files.downscale_image(image_bytes("PNG", (1200, 300)), max_pixels_side=400, max_bytes=1_000_000)

    assert (result.width, result.height, result.format) == (400, 100, "png")
    assert Image.open(io.BytesIO(result.data)).size == (400, 100)


def test_downscale_turns_a_png_photo_that_stays_too_heavy_into_jpeg_within_the_byte_limit():
    data = noisy_png((400, 300))  # about 360 kB

    result = files.downscale_image(data, max_pixels_side=8000, max_bytes=50_000)

    assert result.format == "jpeg"
    assert len(result.data) <= 50_000
    assert result.width / result.height == pytest.approx(400 / 300, rel=0.02)
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.format == "JPEG"
        assert image.size == (result.width, result.height)


def test_downscale_flattens_transparency_when_converting_to_jpeg():
    output = io.BytesIO()
    Image.frombytes("RGBA", (300, 300), os.urandom(300 * 300 * 4)).save(output, format="PNG")

    result = files.downscale_image(output.getvalue(), max_pixels_side=8000, max_bytes=40_000)

    assert result.format == "jpeg"
    assert len(result.data) <= 40_000


def test_downscale_applies_exif_orientation_and_strips_metadata():
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"  # camera make: metadata that must not leave the server
    data = image_bytes("JPEG", (400, 200), exif=exif)

    result = files.downscale_image(data, max_pixels_side=100, max_bytes=1_000_000)

    assert (result.width, result.height) == (50, 100)
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == (50, 100)
        assert dict(image.getexif()) == {}
    assert b"SecretCam" not in result.data


def test_downscale_writes_a_gif_as_png():
    result = files.downscale_image(image_bytes("GIF", (300, 300)), max_pixels_side=100, max_bytes=1_000_000)

    assert (result.format, result.width, result.height) == ("png", 100, 100)


@pytest.mark.parametrize(
    ("mime", "name", "expected"),
    [
        ("image/png", "a.png", "png"),
        ("image/png", "pasted", "png"),
        ("image/png", "a.weird-extension", "png"),
        ("text/plain", "data.csv", "csv"),
        ("text/plain", "README.md", "md"),
        ("text/plain", "notes", "txt"),
        ("text/x-script.python", "tool.py", "txt"),
        ("text/html", "page", "html"),
        ("application/x-ole-storage", "old.DOC", "doc"),
        ("application/zip", "letter.docx", None),
    ],
)
def test_detect_format_lets_the_content_decide(mime, name, expected):
    assert files.detect_format(mime=mime, name=name) == expected


@pytest.mark.parametrize(
    ("mime", "name", "error"),
    [
        ("application/x-executable", "cat.png", files.UnsupportedFileType),
        ("application/zip", "cat.png", files.UnsupportedFileType),
        ("image/svg+xml", "logo.svg", files.UnsupportedFileType),
        ("application/x-ole-storage", "setup.msi", files.UnsupportedFileType),
        ("image/png", "report.pdf", files.FileTypeMismatch),
        ("text/html", "cat.png", files.FileTypeMismatch),
        ("application/pdf", "notes.txt", files.FileTypeMismatch),
    ],
)
def test_detect_format_refuses_unsupported_and_contradicting_files(mime, name, error):
    with pytest.raises(error):
        files.detect_format(mime=mime, name=name)


def test_a_missing_libmagic_is_one_clear_error_naming_the_install_command(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    # python-magic raises ImportError when the system library cannot be loaded; stand in for it.
    (tmp_path / "magic.py").write_text("raise ImportError('failed to find libmagic.  Check your installation')\n")
    repo = Path(__file__).resolve().parents[2]

    result = subprocess.run(
        [sys.executable, "-c", "import backend.files"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{repo}"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: libmagic")
    assert "apt-get install libmagic1" in last_line and "brew install libmagic" in last_line
