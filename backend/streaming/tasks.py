"""Celery tasks of the streaming engine: the sweeper and the Idempotency-Key purge."""

from __future__ import annotations

from celery import shared_task

from backend.streaming.engine import sweep_all
from backend.streaming.services import idempotency_keys_purge


@shared_task(ignore_result=True)
def sweep_generations() -> int:
    """End generations whose process died (each web process also sweeps on its own)."""
    return sweep_all()


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than STREAM_IDEMPOTENCY_TTL_HOURS."""
    return idempotency_keys_purge()
