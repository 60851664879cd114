"""Delete help conversations by hand: `manage.py sitehelp_purge [--before DATE] [--session ID] [--dry-run]`.

Without options it deletes what the retention period (HELP_RETENTION_DAYS) has expired, like the
daily task. It prints counts only, never content.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from sitehelp.services import retention


class Command(BaseCommand):
    help = "Delete help conversations and their feedback (older than --before, one --session, or expired)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", help="Delete conversations last active before this date (YYYY-MM-DD, UTC).")
        parser.add_argument("--session", help="Delete this one session (its id).")
        parser.add_argument("--dry-run", action="store_true", help="Only print what would be deleted.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["before"] and options["session"]:
            raise CommandError("Give --before or --session, not both.")
        session_id = None
        before = None
        if options["session"]:
            try:
                session_id = uuid.UUID(options["session"])
            except ValueError as exc:
                raise CommandError("--session must be a session id.") from exc
        elif options["before"]:
            try:
                day = datetime.date.fromisoformat(options["before"])
            except ValueError as exc:
                raise CommandError("--before must be a date, YYYY-MM-DD.") from exc
            before = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
        else:
            before = retention.retention_horizon()
        if options["dry_run"]:
            counts = retention.purge_count(before=before, session_id=session_id)
            verb = "Would delete"
        else:
            counts = retention.purge_run(before=before, session_id=session_id)
            verb = "Deleted"
        scope = f"session {session_id}" if session_id else f"before {before.isoformat() if before else timezone.now()}"
        self.stdout.write(
            f"{verb} {counts.sessions} sessions, {counts.messages} messages, {counts.feedback} feedback ({scope})."
        )
