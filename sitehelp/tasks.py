"""Celery tasks of the help app (thin: they call a service)."""

from __future__ import annotations

from celery import shared_task

from sitehelp.services import retention


@shared_task(ignore_result=True)
def purge_expired() -> None:
    """Delete conversations and feedback older than HELP_RETENTION_DAYS (idempotent, batched)."""
    retention.purge_expired()
