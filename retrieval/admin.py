from __future__ import annotations

from django.contrib import admin

from retrieval.models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "source", "collection", "owner", "embedding_model", "indexed_at")
    list_filter = ("source", "embedding_model")
    search_fields = ("title", "ref", "collection")
    raw_id_fields = ("owner",)
    readonly_fields = ("content_hash", "indexed_at")
