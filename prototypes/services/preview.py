"""Signed, short-lived preview URLs scoped to one version, and the headers the page is served with.

The token is the version id signed with a `TimestampSigner` (own salt): whoever holds the URL
may see that one version until it expires; nothing else. The preview host (a separate
registrable domain in production, `PROTOTYPE_PREVIEW_BASE_URL`) carries no session cookies,
and the CSP below makes the page an opaque-origin sandbox with no network (see the
"Preview isolation" section of prototypes/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from backend import errors
from prototypes.errors import ErrorCode

SALT = "prototypes.preview"


@dataclass(frozen=True)
class PreviewLink:
    url: str
    expires_at: datetime


def preview_token(*, version_id: UUID) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(version_id))


def preview_link(*, version_id: UUID, request: Any = None) -> PreviewLink:
    path = reverse("prototype-preview", kwargs={"token": preview_token(version_id=version_id)})
    base = settings.PROTOTYPE_PREVIEW_BASE_URL
    if base:
        url = base.rstrip("/") + path
    elif request is not None:
        url = request.build_absolute_uri(path)
    else:
        url = path
    expires_at = timezone.now() + timedelta(seconds=settings.PROTOTYPE_PREVIEW_MAX_AGE)
    return PreviewLink(url=url, expires_at=expires_at)


def preview_version_id(*, token: str) -> UUID:
    """The version a token grants; raises NotFound (forged) or PermissionDenied (expired)."""
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=settings.PROTOTYPE_PREVIEW_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise errors.PermissionDenied("This preview link has expired.", code=ErrorCode.PREVIEW_EXPIRED) from exc
    except signing.BadSignature as exc:
        raise errors.NotFound("No such preview.", code=ErrorCode.PREVIEW_NOT_FOUND) from exc
    try:
        return UUID(value)
    except ValueError as exc:  # pragma: no cover - only we sign tokens
        raise errors.NotFound("No such preview.", code=ErrorCode.PREVIEW_NOT_FOUND) from exc


def served_from_preview_host(*, host: str) -> bool:
    """Whether a request for a preview came to the preview host (always, when previews share the app's host).

    With a separate preview host configured, the app's own host refuses to render previews, so
    model HTML never runs on the app's origin even if a link is rewritten.
    """
    base = settings.PROTOTYPE_PREVIEW_BASE_URL
    return not base or urlsplit(base).netloc.lower() == host.lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def frame_ancestors() -> list[str]:
    """Who may frame a preview: the app's origins (and the app itself when previews share its host)."""
    origins = [_origin(url) for url in settings.PROTOTYPE_PREVIEW_FRAME_ANCESTORS]
    if not settings.PROTOTYPE_PREVIEW_BASE_URL:
        origins.insert(0, "'self'")
    return [origin for origin in dict.fromkeys(origins) if origin]


def content_security_policy() -> str:
    ancestors = " ".join(frame_ancestors()) or "'none'"
    return "; ".join(
        [
            "sandbox allow-scripts allow-forms allow-popups",
            "default-src 'none'",
            "script-src 'unsafe-inline'",
            "style-src 'unsafe-inline'",
            "img-src data: blob:",
            "font-src data:",
            "media-src data: blob:",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def preview_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cache-Control": "private, no-store",
    }


def export_headers(*, filename: str) -> dict[str, str]:
    """An export is a download: never rendered on the app's origin (and sandboxed if it were)."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
