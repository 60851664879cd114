"""`manage.py index_docs PATH…`: index a folder of docs and the product's OpenAPI schema as the site corpus.

The site corpus (collection `site`, no owner) is what the help page and the widget search
(`retrieval.selectors.site_docs_search`), citing the page each excerpt comes from. Markdown,
HTML, code, text and PDF files are indexed by their path under the folder; each API operation
of the OpenAPI schema is one document. Unchanged documents are skipped (content hash), so
running the command again after an edit only re-embeds what changed; `--prune` removes the
documents of files that are gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from drf_spectacular.generators import SchemaGenerator
from tqdm import tqdm

from backend.errors import ValidationFailed
from retrieval.chunking import HTML, extract_text, format_of, html_to_markdown
from retrieval.models import SITE_COLLECTION
from retrieval.services import collection_delete, document_index

SOURCE = "site"
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", "migrations", "staticfiles"}
API_DOCS_URL = "/api/docs/"


class Command(BaseCommand):
    help = "Index docs folders (Markdown, HTML, code, text, PDF) and the OpenAPI schema into the site corpus."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", help="Files or folders to index.")
        parser.add_argument("--base-url", default="/docs/", help="URL the pages are served under (default /docs/).")
        parser.add_argument("--no-schema", action="store_true", help="Do not index the product's OpenAPI schema.")
        parser.add_argument("--prune", action="store_true", help="Remove site documents not seen in this run.")

    def handle(self, *args: Any, **options: Any) -> None:
        documents = list(self._files(options["paths"], options["base_url"]))
        if not options["no_schema"]:
            documents.extend(_schema_documents())
        if not documents:
            raise CommandError("Nothing to index: give at least one folder or file, or leave the schema on.")
        indexed = skipped = chunks = embedded = 0
        for document in tqdm(documents, desc="index_docs", unit="doc", disable=options["verbosity"] == 0):
            result = document_index(source=SOURCE, collection=SITE_COLLECTION, owner_id=None, **document)
            skipped += result.skipped
            indexed += not result.skipped
            chunks += result.chunks
            embedded += result.embedded
        pruned = 0
        if options["prune"]:
            pruned = collection_delete(
                collection=SITE_COLLECTION, source=SOURCE, keep_refs={document["ref"] for document in documents}
            )
        self.stdout.write(
            f"{len(documents)} documents: {indexed} indexed, {skipped} unchanged, {pruned} pruned; "
            f"{chunks} chunks, {embedded} embedded now."
        )

    def _files(self, paths: list[str], base_url: str) -> Any:
        for raw in paths:
            root = Path(raw)
            if not root.exists():
                raise CommandError(f"{raw}: no such file or folder.")
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            for path in files:
                if any(part in SKIP_DIRS or part.startswith(".") for part in path.relative_to(root).parts[:-1]):
                    continue
                try:
                    fmt = format_of(path.name)
                    text = extract_text(data=path.read_bytes(), fmt=fmt)
                except ValidationFailed as exc:
                    if root.is_file():
                        raise CommandError(f"{path}: {exc.message}") from exc
                    continue  # not a document (an image, a binary): a folder may hold those
                relative = path.name if root.is_file() else path.relative_to(root).as_posix()
                yield {
                    "ref": f"file:{relative}",
                    "title": _title(html_to_markdown(text) if fmt == HTML else text, fallback=relative),
                    "content": text,
                    "fmt": "text" if fmt == "pdf" else fmt,
                    "url": base_url.rstrip("/") + "/" + relative,
                }


def _title(text: str, *, fallback: str) -> str:
    for line in text.splitlines()[:20]:
        if line.startswith("# "):
            return line[2:].strip()[:300]
    return fallback


def _schema_documents() -> list[dict[str, Any]]:
    """One document per API operation: method and path, summary, description, parameters, body fields."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    documents = []
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            title = f"{method.upper()} {path}"
            lines = [f"# {title}", operation.get("summary", ""), operation.get("description", "")]
            parameters = [
                f"- {p['name']} ({p.get('in')}): {p.get('description', '')}" for p in operation.get("parameters", [])
            ]
            if parameters:
                lines += ["Parameters:", *parameters]
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                fields = _fields(media.get("schema", {}), components)
                if fields:
                    lines += ["Request body fields:", *fields]
                break
            statuses = ", ".join(sorted(operation.get("responses", {})))
            lines.append(f"Responses: {statuses}")
            tag = (operation.get("tags") or ["api"])[0]
            documents.append(
                {
                    "ref": f"openapi:{title}",
                    "title": f"API: {title}",
                    "content": "\n".join(line for line in lines if line),
                    "fmt": "md",
                    "url": f"{API_DOCS_URL}#/{tag}/{operation.get('operationId', '')}",
                }
            )
    return documents


def _fields(node: dict[str, Any], components: dict[str, Any]) -> list[str]:
    if "$ref" in node:
        node = components.get(node["$ref"].rsplit("/", 1)[-1], {})
    required = set(node.get("required", []))
    return [
        f"- {name}{' (required)' if name in required else ''}: {spec.get('description', spec.get('type', ''))}"
        for name, spec in node.get("properties", {}).items()
    ]
