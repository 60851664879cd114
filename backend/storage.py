"""How stored user files (attachments, avatars) are served: never as active content of our origin.

An uploaded HTML page, or a PNG/PDF polyglot that also parses as HTML, must never render as a
page of the app's own origin (it would run script with the user's cookies). So every user
file is served:

- as a download (`Content-Disposition: attachment`), which `<img>` ignores, so avatars and
  image previews still display;
- with a `Content-Type` chosen by us from the stored name's extension (which the services
  set from the sniffed format, never from the client): the image types for images, and
  `application/octet-stream` for everything else (HTML, text, PDF, Office files);
- on the local disk (`media_serve`, development only): also with `X-Content-Type-Options:
  nosniff` and `Content-Security-Policy: default-src 'none'; sandbox`;
- on S3: the type and disposition are stored with the object at upload
  (`ContentType`/`ContentDisposition`) and also requested on every signed URL
  (`response-content-type`/`response-content-disposition`), which covers objects stored
  before. S3 cannot add `nosniff`; an explicit non-HTML type plus `attachment` is what holds
  there (or serve the bucket from a separate domain, see docs/security.md).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.views import static
from storages.backends.s3 import S3Storage

INLINE_SAFE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}
DOWNLOAD_TYPE = "application/octet-stream"
MEDIA_CSP = "default-src 'none'; sandbox"


def media_headers(name: str) -> dict[str, str]:
    """`Content-Type` and `Content-Disposition` a stored user file is served with."""
    path = PurePosixPath(name)
    content_type = INLINE_SAFE_TYPES.get(path.suffix.lower().lstrip("."), DOWNLOAD_TYPE)
    filename = "".join(ch for ch in path.name if ch.isalnum() or ch in "._-") or "download"
    return {"Content-Type": content_type, "Content-Disposition": f'attachment; filename="{filename}"'}


class MediaS3Storage(S3Storage):
    """django-storages' S3 backend with the headers above, stored and signed into every URL."""

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        headers = media_headers(name)
        return {
            **super().get_object_parameters(name),
            "ContentType": headers["Content-Type"],
            "ContentDisposition": headers["Content-Disposition"],
        }

    def url(
        self, name: str, parameters: dict[str, Any] | None = None, expire: int | None = None, http_method: Any = None
    ) -> str:
        headers = media_headers(name)
        overrides = {
            "ResponseContentType": headers["Content-Type"],
            "ResponseContentDisposition": headers["Content-Disposition"],
        }
        return str(
            super().url(name, parameters={**overrides, **(parameters or {})}, expire=expire, http_method=http_method)
        )


def media_serve(request: HttpRequest, path: str, document_root: str) -> HttpResponseBase:
    """Django's static file view for uploads on the local disk (DEBUG only), with the headers above."""
    response = static.serve(request, path, document_root=document_root)
    for header, value in media_headers(path).items():
        response[header] = value
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_CSP
    return response
