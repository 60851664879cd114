"""File sniffing and image handling: the one adapter for python-magic and Pillow.

Apps never import `magic` or `PIL`: they ask this module what a file really is (from its
bytes, never from its name or the client's Content-Type; `detect_format`), how large an
image is, and have it shrink images that exceed a provider's limits.

Decompression bombs: the header is read before any pixel is decoded (Pillow's `Image.open`
reads only the header), and nothing is ever decoded to more than `IMAGE_MAX_PIXELS` pixels
(setting; 25 MP by default, about 100 MB of RGBA). A PNG, GIF or WebP above it is refused as
`InvalidImage`; a JPEG is accepted up to `IMAGE_MAX_PIXELS_JPEG` because libjpeg decodes it
at 1/2, 1/4 or 1/8 scale (`draft`), picked so the decoded image stays under the ceiling.
Pillow's own `DecompressionBombError`/`DecompressionBombWarning` are refused too. The limits
are checked per call rather than by changing `PIL.Image.MAX_IMAGE_PIXELS`, which is
process-global. A 9400 x 9400 PNG (88 MP, a few hundred KB) used to take ~5-13 s and ~1 GB
to accept; it is now refused from its header in milliseconds.
"""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from PIL import Image, ImageOps, UnidentifiedImageError

try:
    import magic
except ImportError as missing:  # python-magic is installed, but the system library it wraps is not
    raise ImproperlyConfigured(
        "libmagic, the system library that recognises file types, is missing. Install it: "
        "`sudo apt-get install libmagic1` (Debian/Ubuntu) or `brew install libmagic` (macOS), then start again."
    ) from missing

SNIFF_BYTES = 8192

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "WEBP": "webp"}
_EXIF_ORIENTATION = 0x0112

# The formats Converse takes (image and document blocks) and their canonical MIME types.
FORMAT_MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
}
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
TEXT_FORMATS = frozenset({"txt", "csv", "md", "html"})
# Sniffed MIME -> format, for the types libmagic names unambiguously.
_MIME_FORMAT = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
# Old Office files are OLE containers; libmagic cannot always tell Word from Excel.
_OLE_MIMES = frozenset({"application/x-ole-storage", "application/CDFV2", "application/vnd.ms-office"})
_TEXT_MIMES = frozenset({"application/json", "application/xml", "application/x-ndjson", "application/javascript"})
EXTENSION_FORMAT = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "gif": "gif",
    "webp": "webp",
    "pdf": "pdf",
    "csv": "csv",
    "doc": "doc",
    "docx": "docx",
    "xls": "xls",
    "xlsx": "xlsx",
    "html": "html",
    "htm": "html",
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
}


class InvalidImage(ValueError):
    """The bytes are not a decodable PNG/JPEG/GIF/WebP image, or would decode too large."""


class UnsupportedFileType(ValueError):
    """The content is none of the formats in `FORMAT_MIME`."""


class FileTypeMismatch(ValueError):
    """The content is a supported format, but the name's (known) extension says another one."""

    def __init__(self, extension: str, detected: str) -> None:
        super().__init__(f"content is {detected}, name says .{extension}")
        self.extension = extension
        self.detected = detected


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # png | jpeg | gif | webp
    width: int  # as displayed, i.e. after the EXIF orientation is applied
    height: int
    rotated: bool  # an EXIF orientation other than "normal" is set


@dataclass(frozen=True, slots=True)
class EncodedImage:
    data: bytes
    format: str  # png | jpeg | webp (a GIF is re-encoded as PNG, a PNG may become JPEG)
    width: int
    height: int


def sniff_mime(head: bytes) -> str:
    """The MIME type libmagic reads from a file's first bytes (pass at least `SNIFF_BYTES`)."""
    return str(magic.from_buffer(head[:SNIFF_BYTES], mime=True))


def ooxml_format(data: bytes) -> str | None:
    """`docx`/`xlsx` for an Office Open XML zip libmagic reports as a plain zip, else None.

    libmagic only recognises OOXML when `[Content_Types].xml` is the first zip entry; some
    writers order entries differently. The central directory tells which part is present.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def file_extension(name: str | None) -> str:
    """The lower-case extension of a file name, without the dot ("" when there is none)."""
    return PurePosixPath((name or "").replace("\\", "/").lower()).suffix.lstrip(".")


def detect_format(*, mime: str, name: str | None) -> str | None:
    """The `FORMAT_MIME` format of a file from its sniffed MIME type and its name.

    The content decides; the name only tells apart formats the content cannot (CSV, Markdown
    and plain text all sniff as text; old Word and Excel files as OLE storage). A name with a
    known extension that contradicts the content raises FileTypeMismatch; a name with no or
    an unknown extension is ignored. Returns None for a zip named .docx/.xlsx: pass the whole
    file to `detect_ooxml_format`. Raises UnsupportedFileType for anything else.
    """
    extension = file_extension(name)
    claimed = EXTENSION_FORMAT.get(extension)
    if mime.startswith("text/") or mime in _TEXT_MIMES:
        if claimed in TEXT_FORMATS:
            return claimed
        if claimed is not None:
            raise FileTypeMismatch(extension, "html" if mime == "text/html" else "txt")
        return {"text/html": "html", "text/csv": "csv", "text/markdown": "md"}.get(mime, "txt")
    if mime in _MIME_FORMAT:
        detected = _MIME_FORMAT[mime]
    elif mime in _OLE_MIMES and claimed in ("doc", "xls"):
        detected = claimed
    elif mime == "application/zip" and claimed in ("docx", "xlsx"):
        return None
    else:
        raise UnsupportedFileType(mime)
    if claimed is not None and claimed != detected:
        raise FileTypeMismatch(extension, detected)
    return detected


def detect_ooxml_format(data: bytes, *, name: str | None) -> str:
    """`docx`/`xlsx` for a zip `detect_format` could not place. Raises UnsupportedFileType / FileTypeMismatch."""
    detected = ooxml_format(data)
    if detected is None:
        raise UnsupportedFileType("application/zip")
    extension = file_extension(name)
    if EXTENSION_FORMAT.get(extension, detected) != detected:
        raise FileTypeMismatch(extension, detected)
    return detected


def _open(data: bytes) -> Image.Image:
    """Open (header only) and refuse bombs before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("image dimensions are too large to process") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not a valid PNG, JPEG, GIF or WebP image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage("corrupt image data") from exc
    limit = settings.IMAGE_MAX_PIXELS_JPEG if image.format == "JPEG" else settings.IMAGE_MAX_PIXELS
    if image.width * image.height > limit:
        image.close()
        raise InvalidImage("image dimensions are too large to process")
    return image


def _draft_under_ceiling(image: Image.Image, max_side: int | None = None) -> None:
    """Have a JPEG decode at the smallest reduction (1/2, 1/4, 1/8) that is under the pixel ceiling.

    Also reduces further when `max_side` (the size wanted in the end) allows it. Other formats
    cannot decode reduced; `_open` already refused them above the ceiling.
    """
    if image.format != "JPEG":
        return
    width, height = image.size
    scale = 1
    while scale < 8 and (
        (width // scale) * (height // scale) > settings.IMAGE_MAX_PIXELS
        or (max_side is not None and max(width, height) // (scale * 2) >= max_side)
    ):
        scale *= 2
    if scale > 1:
        image.draft("RGB", (math.ceil(width / scale), math.ceil(height / scale)))
    if image.size[0] * image.size[1] > settings.IMAGE_MAX_PIXELS:
        raise InvalidImage("image dimensions are too large to process")


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - broken EXIF is treated as "no orientation"
        return 1


def inspect_image(data: bytes, *, decode: bool = False) -> ImageInfo:
    """Format and displayed size of an image. Raises InvalidImage.

    Only the header is read unless `decode` is set: then every pixel is decoded too, which
    catches truncated or corrupt image data (use it for images that are kept as they are).
    """
    with _open(data) as image:
        orientation = _orientation(image)
        width, height = image.size
        assert image.format is not None
        image_format = _PIL_FORMATS[image.format]
        if decode:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    _draft_under_ceiling(image)
                    image.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise InvalidImage("image dimensions are too large to process") from exc
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise InvalidImage("corrupt or truncated image data") from exc
    if orientation in (5, 6, 7, 8):  # rotated by 90 or 270 degrees
        width, height = height, width
    return ImageInfo(format=image_format, width=width, height=height, rotated=orientation not in (1, 0))


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) as displayed. Raises InvalidImage."""
    info = inspect_image(data)
    return info.width, info.height


def _decode(data: bytes, max_side: int) -> Image.Image:
    """The upright image, fully decoded (JPEG decoded at a reduced scale when that suffices)."""
    image = _open(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale when the target is that small, or when
            # that is what it takes to stay under the pixel ceiling: less memory and time.
            _draft_under_ceiling(image, max_side)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("image dimensions are too large to process") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage("corrupt image data") from exc
    finally:
        image.close()
    return upright


# Above this many pixels a PNG is saved without `optimize` (which tries every filter and
# compression level: a minute for 25 megapixels), at zlib's default level.
_PNG_OPTIMIZE_MAX_PIXELS = 4_000_000


def _encode(image: Image.Image, image_format: str, quality: int) -> bytes:
    output = io.BytesIO()
    if image_format == "png":
        if image.width * image.height <= _PNG_OPTIMIZE_MAX_PIXELS:
            image.save(output, format="PNG", optimize=True)
        else:
            image.save(output, format="PNG", compress_level=6)
    elif image_format == "jpeg":
        image.save(output, format="JPEG", quality=quality, optimize=True)
    else:
        image.save(output, format="WEBP", quality=quality)
    return output.getvalue()


def _prepare_mode(image: Image.Image, image_format: str) -> Image.Image:
    has_alpha = "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info)
    if image_format == "jpeg":
        if has_alpha:  # JPEG has no alpha: flatten onto white, as a viewer would show it
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("RGB") if image.mode not in ("RGB", "L") else image
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        return image.convert("RGBA" if has_alpha else "RGB")
    return image


def downscale_image(data: bytes, *, max_pixels_side: int, max_bytes: int, format: str | None = None) -> EncodedImage:
    """Re-encode an image so both sides are ≤ `max_pixels_side` and it is ≤ `max_bytes` bytes.

    The aspect ratio is kept, the EXIF orientation applied and all metadata (EXIF, ICC, text
    chunks) dropped. `format` is the preferred output format (default: the input's; a GIF
    becomes PNG, its first frame). A PNG still too large after resizing is tried as JPEG, then
    the quality and size are stepped down. Raises InvalidImage for undecodable data and
    ValueError if no acceptable encoding was found.
    """
    source = _decode(data, max_pixels_side)
    target_format = format or _PIL_FORMATS.get(_source_format(data), "png")
    if target_format == "gif":
        target_format = "png"
    scale = min(1.0, max_pixels_side / max(source.size))
    if target_format == "png" and format is None and len(data) * scale * scale > max_bytes:
        # A PNG's size follows its pixel count: at this scale it would still be too heavy, and
        # encoding tens of megapixels as PNG takes seconds to a minute. Go straight to JPEG.
        target_format = "jpeg"
    quality = 85
    for _attempt in range(10):
        size = (max(1, math.floor(source.width * scale)), max(1, math.floor(source.height * scale)))
        resized = source.resize(size, Image.Resampling.LANCZOS) if size != source.size else source
        encoded = _encode(_prepare_mode(resized, target_format), target_format, quality)
        if len(encoded) <= max_bytes:
            return EncodedImage(data=encoded, format=target_format, width=size[0], height=size[1])
        if target_format == "png":
            target_format = "jpeg"  # photos saved as PNG shrink most by becoming JPEG
            continue
        quality = max(50, quality - 10)
        # Bytes grow roughly with the pixel count: aim a little below the budget.
        scale *= min(0.9, math.sqrt(max_bytes / len(encoded)) * 0.95)
    raise ValueError("could not encode the image within the byte limit")


def _source_format(data: bytes) -> str:
    with _open(data) as image:
        return image.format or "PNG"
