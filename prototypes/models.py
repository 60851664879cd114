"""UI prototypes: design projects → groups → prototypes → variants → versions of HTML.

A `Prototype` is one screen idea; its `PrototypeVariant`s are distinct alternatives (one is
the original); each variant has a numbered line of `PrototypeVersion`s. A version is never
changed once it is terminal: an edit or a revert adds a version, so nothing is destroyed.

A version is produced by a generation (like a chat answer): it is created `streaming`, the
model's raw answer is checkpointed into `raw_output`, and it ends in exactly one terminal
state. `html_content` always holds the full, sanitised page; `diff` the unified diff from the
version it was made from.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from backend.streaming.models import GenerationRecord


class DesignProject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="design_projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Context sent with every generation in the project.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="proto_project_user_created")]

    def __str__(self) -> str:
        return self.name


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(DesignProject, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="proto_group_project_created")]

    def __str__(self) -> str:
        return self.name


class Prototype(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(DesignProject, on_delete=models.CASCADE, related_name="prototypes")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="prototypes")
    name = models.CharField(max_length=200)
    initial_prompt = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="proto_prototype_project"),
            models.Index(fields=["group", "-created_at"], name="proto_prototype_group"),
        ]

    def __str__(self) -> str:
        return self.name


class PrototypeVariant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prototype = models.ForeignKey(Prototype, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=200)
    is_original = models.BooleanField(default=False)
    source_variant = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_variants"
    )
    guidance = models.TextField(blank=True, help_text="What the user asked this variant to explore.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["prototype", "created_at"], name="proto_variant_prototype")]
        constraints = [
            models.UniqueConstraint(
                fields=["prototype"], condition=models.Q(is_original=True), name="proto_one_original_variant"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PrototypeVersion(GenerationRecord):
    class Status(models.TextChoices):
        STREAMING = "streaming", "streaming"
        COMPLETE = "complete", "complete"
        INCOMPLETE = "incomplete", "incomplete"  # the answer was cut off: max tokens or a stream error
        ERROR = "error", "error"
        CANCELLED = "cancelled", "cancelled"
        INTERRUPTED = "interrupted", "interrupted"

    class Kind(models.TextChoices):
        GENERATE = "generate", "generate"
        VARIANT = "variant", "variant"
        EDIT = "edit", "edit"
        REVERT = "revert", "revert"

    class EditMode(models.TextChoices):
        NONE = "", "none"
        FULL = "full", "full page"
        PATCH = "patch", "find-and-replace"
        REWRITE = "rewrite", "full rewrite after a failed patch"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    variant = models.ForeignKey(PrototypeVariant, on_delete=models.CASCADE, related_name="versions")
    version_number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STREAMING)
    base_version = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version this one was made from (edited, reverted to, or varied).",
    )
    edit_prompt = models.TextField(blank=True)
    edit_mode = models.CharField(max_length=16, choices=EditMode.choices, blank=True, default=EditMode.NONE)
    html_content = models.TextField(blank=True)
    diff = models.TextField(blank=True, help_text="Unified diff from the base version's HTML.")
    summary = models.TextField(blank=True, help_text="The assistant's change summary (text outside the file tag).")
    raw_output = models.TextField(blank=True, help_text="The model's answer as streamed.")
    sanitizer_notes = models.JSONField(default=list, blank=True, help_text="What sanitising removed or changed.")
    # The generation fields (model, usage, error, heartbeat, ...) come from GenerationRecord.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version_number"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="proto_version_streaming")]
        constraints = [
            models.UniqueConstraint(fields=["variant", "version_number"], name="proto_version_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.variant_id} v{self.version_number}"
