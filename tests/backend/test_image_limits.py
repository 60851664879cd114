"""Image decompression amplification: dimensions come from the header, decoding stays under a pixel ceiling."""

from __future__ import annotations

import io
import time
from unittest import mock

import pytest
from PIL import Image

from backend import files
from tests.backend.test_files import image_bytes, noisy_png, png_claiming_size


def flat_png(side: int) -> bytes:
    """A real (fully decodable) PNG of side x side pixels that compresses to a few hundred KB."""
    output = io.BytesIO()
    Image.new("L", (side, side), 200).save(output, format="PNG")
    return output.getvalue()


def test_a_9400_pixel_png_is_refused_from_its_header_without_decoding():
    bomb = flat_png(9400)  # 88 megapixels in a few hundred KB
    assert len(bomb) < 1_000_000

    started = time.perf_counter()
    with mock.patch.object(Image.Image, "load", autospec=True) as load, pytest.raises(files.InvalidImage):
        files.downscale_image(bomb, max_pixels_side=8000, max_bytes=3_750_000)

    assert load.call_count == 0
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("check", [files.inspect_image, files.image_size])
def test_header_checks_refuse_above_the_ceiling(settings, check):
    settings.IMAGE_MAX_PIXELS = 1_000_000

    with pytest.raises(files.InvalidImage):
        check(png_claiming_size(1001, 1000))
    assert files.image_size(image_bytes("PNG", (1000, 1000))) == (1000, 1000)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_under_the_ceiling(settings):
    settings.IMAGE_MAX_PIXELS = 1_000_000
    settings.IMAGE_MAX_PIXELS_JPEG = 16_000_000
    photo = image_bytes("JPEG", (3000, 2000))  # 6 MP: decoded at 1/4 scale (750 x 500)
    decoded_sizes = []
    original_load = Image.Image.load

    def recording_load(image):
        decoded_sizes.append(image.size)
        return original_load(image)

    with mock.patch.object(Image.Image, "load", autospec=True, side_effect=recording_load):
        result = files.downscale_image(photo, max_pixels_side=8000, max_bytes=5_000_000)

    assert decoded_sizes and all(w * h <= 1_000_000 for w, h in decoded_sizes)
    assert (result.width, result.height) == (750, 500)


def test_a_jpeg_over_its_own_ceiling_is_refused(settings):
    settings.IMAGE_MAX_PIXELS_JPEG = 1_000_000

    with pytest.raises(files.InvalidImage):
        files.inspect_image(image_bytes("JPEG", (1200, 1000)))


def test_a_png_too_heavy_at_its_target_size_goes_straight_to_jpeg():
    # Re-encoding tens of megapixels as PNG took a minute; a PNG cannot shrink enough anyway.
    data = noisy_png((600, 400))  # ~720 KB
    encoded_as = []
    original = files._encode

    def recording_encode(image, image_format, quality):
        encoded_as.append(image_format)
        return original(image, image_format, quality)

    with mock.patch.object(files, "_encode", side_effect=recording_encode):
        result = files.downscale_image(data, max_pixels_side=8000, max_bytes=200_000)

    assert encoded_as[0] == "jpeg"
    assert result.format == "jpeg"
