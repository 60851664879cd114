"""Housekeeping of the streaming engine's own rows."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from backend.streaming.models import IdempotencyKey


def idempotency_keys_purge() -> int:
    """Forget Idempotency-Keys older than STREAM_IDEMPOTENCY_TTL_HOURS; returns how many."""
    horizon = timezone.now() - timedelta(hours=settings.STREAM_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=horizon).delete()
    return deleted
