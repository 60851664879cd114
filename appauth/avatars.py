"""Avatar images: checked and re-encoded before they reach storage.

Only raster formats Pillow decodes safely are accepted (JPEG, PNG, WebP, GIF; never SVG).
The pixel count is checked from the header before decoding (decompression bombs), the
image is rotated per its EXIF orientation, shrunk to `AUTH_AVATAR_SIZE` and saved as a
fresh PNG, which drops EXIF and any other metadata. The client's file name is never used.
"""

from __future__ import annotations

import io
import warnings

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.errors import PayloadTooLarge, ValidationFailed

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(f"avatar: {message}", details={"avatar": [message]})


def avatar_process(*, upload: UploadedFile) -> ContentFile[bytes]:
    """A clean PNG of the uploaded image; raises ValidationFailed / PayloadTooLarge."""
    if upload.size is None or upload.size > settings.AUTH_AVATAR_MAX_BYTES:
        raise PayloadTooLarge(
            "The avatar file is too large.",
            details={"avatar": ["File too large."], "max_bytes": settings.AUTH_AVATAR_MAX_BYTES},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            upload.seek(0)
            with Image.open(upload, formats=ACCEPTED_FORMATS) as image:
                if image.width * image.height > settings.AUTH_AVATAR_MAX_PIXELS:
                    raise _invalid("Image dimensions are too large.")
                image.load()
                upright = ImageOps.exif_transpose(image)
                upright = upright.convert("RGBA" if "A" in upright.getbands() or upright.mode == "P" else "RGB")
                size = settings.AUTH_AVATAR_SIZE
                upright.thumbnail((size, size))
                output = io.BytesIO()
                upright.save(output, format="PNG", optimize=True)
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _invalid("Upload a valid JPEG, PNG, WebP or GIF image.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt image data
        raise _invalid("Upload a valid JPEG, PNG, WebP or GIF image.") from exc
    return ContentFile(output.getvalue(), name="avatar.png")
