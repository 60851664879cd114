from django.contrib import admin

from backend.llm.models import LLMCall


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "purpose",
        "alias",
        "provider",
        "model_id",
        "status",
        "input_tokens",
        "output_tokens",
        "cost",
    )
    list_filter = ("purpose", "status", "alias", "provider", "model_id")
    search_fields = ("reference", "model_id", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    raw_id_fields = ("user",)

    def has_add_permission(self, request: object) -> bool:
        return False  # the ledger is written by the LLM layer only

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
