from django.contrib import admin

from backend.streaming.models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "scope", "user", "record_id", "created_at")
    list_filter = ("scope",)
    search_fields = ("key", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)

    def has_add_permission(self, request: object) -> bool:
        return False  # written by the streaming engine only

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
