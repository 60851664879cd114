"""Import chats from a JSON export (`GET /api/v1/chat/chats/{id}/export/?format=json`, or a list of them).

The same service as `POST /api/v1/chat/import/` (`chat.services.imports`), with the same validation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.errors import ApplicationError
from chat.models import Project
from chat.services.imports import chat_import_file


class Command(BaseCommand):
    help = "Import chats from a JSON export file as new chats of a user (new ids, same tree)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="JSON file: one chat export document or a list of them.")
        parser.add_argument("--user", required=True, help="Email of the user who will own the chats.")
        parser.add_argument("--project", type=UUID, help="Id of one of that user's projects to put the chats in.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with email {options['user']!r}.")
        project = None
        if options["project"] is not None:
            project = Project.objects.filter(id=options["project"], user=user).first()
            if project is None:
                raise CommandError(f"The user has no project {options['project']}.")
        try:
            content = options["path"].read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {options['path']}: {error}") from error
        try:
            result = chat_import_file(user=user, content=content, project=project, progress=self._progress)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(result.chats)} chat(s), {result.pairs} turn(s), {result.messages} message(s)."
            )
        )
        if result.attachments_restored:
            self.stdout.write(f"{result.attachments_restored} attachment(s) restored.")
        if result.attachments_skipped:
            self.stdout.write(
                self.style.WARNING(
                    f"{result.attachments_skipped} attachment(s) skipped: the export holds no contents for them "
                    "(export with ?files=embed to include them)."
                )
            )

    def _progress(self, done: int, total: int) -> None:
        # tqdm is not a dependency: a one-line progress counter on stderr is enough.
        width = 30
        filled = width * done // total
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} chats{end}")
        sys.stderr.flush()
