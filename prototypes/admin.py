"""Admin views of prototypes: read-mostly (pages are produced by generations, not typed in)."""

from django.contrib import admin

from prototypes.models import DesignProject, Group, Prototype, PrototypeVariant, PrototypeVersion


@admin.register(DesignProject)
class DesignProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "created_at"]
    search_fields = ["name", "user__email"]
    raw_id_fields = ["user"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    search_fields = ["name"]
    raw_id_fields = ["project"]


@admin.register(Prototype)
class PrototypeAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "group", "created_at"]
    search_fields = ["name", "initial_prompt"]
    raw_id_fields = ["project", "group"]


@admin.register(PrototypeVariant)
class PrototypeVariantAdmin(admin.ModelAdmin):
    list_display = ["name", "prototype", "is_original", "created_at"]
    raw_id_fields = ["prototype", "source_variant"]


@admin.register(PrototypeVersion)
class PrototypeVersionAdmin(admin.ModelAdmin):
    list_display = ["variant", "version_number", "kind", "status", "model_id", "output_tokens", "cost", "created_at"]
    list_filter = ["status", "kind"]
    raw_id_fields = ["variant", "base_version"]
    readonly_fields = [field.name for field in PrototypeVersion._meta.fields]
