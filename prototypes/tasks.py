"""Celery tasks of the prototypes app (thin: call a service)."""

from __future__ import annotations

from celery import shared_task

from prototypes.services.generation import versions_sweep
from prototypes.services.versions import idempotency_keys_purge


@shared_task(name="prototypes.tasks.sweep_stale_generations", ignore_result=True)
def sweep_stale_generations() -> int:
    """Turn versions whose generation stopped heart-beating into `interrupted`; forget old Idempotency-Keys."""
    idempotency_keys_purge()
    return versions_sweep()
