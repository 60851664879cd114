"""Deleting conversations: after HELP_RETENTION_DAYS (the daily beat task), or by hand.

Deletion is batched (HELP_PURGE_BATCH_SIZE rows a statement) and idempotent: a run that stops
half-way leaves only rows the next run deletes. Sessions go with their messages and feedback
(cascade); ask-page records (no session) go by age. Only counts are logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone

from sitehelp.models import HelpFeedback, HelpMessage, HelpSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeCounts:
    sessions: int
    messages: int
    feedback: int


def retention_horizon() -> datetime:
    return timezone.now() - timedelta(days=settings.HELP_RETENTION_DAYS)


def _targets(*, before: datetime | None, session_id: Any) -> tuple[QuerySet[HelpSession], QuerySet[HelpMessage]]:
    if session_id is not None:
        return HelpSession.objects.filter(id=session_id), HelpMessage.objects.none()
    assert before is not None
    # Sessions by their last activity: a conversation still in use is not cut in half.
    return (
        HelpSession.objects.filter(last_activity_at__lt=before),
        HelpMessage.objects.filter(session__isnull=True, created_at__lt=before),
    )


def purge_count(*, before: datetime | None = None, session_id: Any = None) -> PurgeCounts:
    """What `purge_run` would delete (a dry run)."""
    sessions, page_messages = _targets(before=before, session_id=session_id)
    session_ids = sessions.values("id")
    messages = HelpMessage.objects.filter(session_id__in=session_ids).count() + page_messages.count()
    feedback = HelpFeedback.objects.filter(message__session_id__in=session_ids).count()
    return PurgeCounts(sessions=sessions.count(), messages=messages, feedback=feedback)


def purge_run(*, before: datetime | None = None, session_id: Any = None) -> PurgeCounts:
    """Delete the sessions last active before `before` (or the one `session_id`), in batches."""
    batch = settings.HELP_PURGE_BATCH_SIZE
    sessions, page_messages = _targets(before=before, session_id=session_id)
    totals = {"sessions": 0, "messages": 0, "feedback": 0}
    while True:
        ids = list(sessions.values_list("id", flat=True)[:batch])
        if not ids:
            break
        counted = HelpSession.objects.filter(id__in=ids).aggregate(m=Count("messages"), f=Count("messages__feedback"))
        HelpSession.objects.filter(id__in=ids).delete()
        totals["sessions"] += len(ids)
        totals["messages"] += counted["m"]
        totals["feedback"] += counted["f"]
    while True:
        ids = list(page_messages.values_list("id", flat=True)[:batch])
        if not ids:
            break
        totals["messages"] += HelpMessage.objects.filter(id__in=ids).delete()[1].get("sitehelp.HelpMessage", 0)
    counts = PurgeCounts(**totals)
    logger.info("help conversations purged", extra={**totals, "session_id": str(session_id) if session_id else ""})
    return counts


def purge_expired() -> PurgeCounts:
    """The retention purge: everything older than HELP_RETENTION_DAYS."""
    return purge_run(before=retention_horizon())
