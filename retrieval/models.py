"""Indexed text: documents, identified by (source, ref), cut into chunks searched two ways.

The app knows nothing of the objects it indexes: an owner app (chat's project knowledge, the
site docs command, ...) hands it a document's text under its own `(source, ref)` and a
`collection` (the search scope, e.g. `project:<uuid>` or `site`), and deletes it again.

Each chunk is searched by full text and by meaning: PostgreSQL keeps a generated `tsvector`
column with a GIN index (SQLite an FTS5 table kept by triggers), both created by migration
0002 outside the model; `embedding` holds the chunk's sentence vector (float32 bytes) of the
model named by its document's `embedding_model`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

# The collection of the site's own help documents (`manage.py index_docs`), which sitehelp searches.
SITE_COLLECTION = "site"


class Document(models.Model):
    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=64, help_text="Who indexed it: chat.knowledge, site, ...")
    ref = models.CharField(max_length=300, help_text="The source's id of the document (or a path).")
    collection = models.CharField(max_length=100, help_text="The search scope: project:<uuid>, site, ...")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="retrieval_documents",
        help_text="Only the owner's searches see it; empty for the public site corpus.",
    )
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=500, blank=True, help_text="Where the document is read (site pages).")
    format = models.CharField(max_length=16, default="text")
    content_hash = models.CharField(max_length=64, help_text="sha256 of what was indexed: unchanged → skipped.")
    embedding_model = models.CharField(max_length=100)
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "ref"], name="retrieval_document_source_ref")]
        indexes = [models.Index(fields=["collection", "owner"], name="retrieval_document_scope")]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=500, blank=True, help_text="The section path: Guide > Setup > Linux.")
    anchor = models.CharField(max_length=200, blank=True, help_text="The section's URL fragment.")
    text = models.TextField()
    text_hash = models.CharField(max_length=64, help_text="Re-indexing reuses the vector of an unchanged chunk.")
    token_count = models.PositiveIntegerField(default=0)
    embedding = models.BinaryField(help_text="float32 vector, L2-normalised.")

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="retrieval_chunk_order")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"
