"""`manage.py index_knowledge`: (re-)index every project knowledge item for retrieval.

Knowledge is indexed after each write; this brings items written before retrieval existed, or
after a change of embedder, into the index. Unchanged items are skipped, so it is safe to rerun.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from chat.models import ProjectKnowledge
from chat.services.knowledge_index import knowledge_index


class Command(BaseCommand):
    help = "Index every project knowledge item (or those of one project) for retrieval."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="Only the items of this project id.")

    def handle(self, *args: Any, **options: Any) -> None:
        items = ProjectKnowledge.objects.order_by("created_at")
        if options["project"]:
            items = items.filter(project_id=options["project"])
        ids = list(items.values_list("id", flat=True))
        indexed = skipped = 0
        for knowledge_id in tqdm(ids, desc="index_knowledge", unit="item", disable=options["verbosity"] == 0):
            result = knowledge_index(knowledge_id=knowledge_id)
            if result is not None and result.skipped:
                skipped += 1
            elif result is not None:
                indexed += 1
        self.stdout.write(f"{len(ids)} items: {indexed} indexed, {skipped} unchanged.")
