"""The admin assistant's rows: its settings (a singleton), chats, messages and the query log.

None of these models is ever visible to the assistant itself: the whole app is on the
manifest's denylist (`adminassistant.denylist`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from backend.streaming.models import GenerationRecord


class AssistantSettings(models.Model):
    """The AI settings: one row (pk 1), edited by superusers in the admin, read on every question."""

    class Provider(models.TextChoices):
        SERVER = "server", "Server credentials (provider layer)"
        ANTHROPIC = "anthropic", "Anthropic API"
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible API"

    provider = models.CharField(max_length=32, choices=Provider.choices, default=Provider.SERVER)
    model_alias = models.CharField(max_length=64, blank=True, help_text="A model alias of the provider layer.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    temperature = models.FloatField(default=0.2)
    max_tokens = models.PositiveIntegerField(default=1500)
    timeout_seconds = models.PositiveIntegerField(default=60)
    send_aggregates = models.BooleanField(
        default=False, help_text="Send aggregate results (never rows) to the model for a one-line summary."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI settings"
        verbose_name_plural = "AI settings"

    def __str__(self) -> str:
        return "AI settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @property
    def api_key_masked(self) -> str:
        return f"••••{self.api_key_last4}" if self.api_key_encrypted else ""


class Chat(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    titled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-updated_at"], name="aa_chat_user_updated")]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Message(GenerationRecord):
    """A question (role `user`) or an answer (role `assistant`, streamed by the engine)."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        ERROR = "error"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    content = models.TextField(blank=True, help_text="The question, or the answer's streamed explanation.")
    code = models.TextField(blank=True, help_text="The generated code that was run.")
    result = models.JSONField(null=True, blank=True, help_text="The capped result (number, table, chart or error).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["chat", "created_at"], name="aa_message_chat_created")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class QueryLog(models.Model):
    """One row per question, written after the query's transaction rolled back (so it survives every failure)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    chat = models.ForeignKey(Chat, null=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(Message, null=True, on_delete=models.SET_NULL, related_name="+")
    question = models.TextField()
    code = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Snippets run: 2 after a correction.")
    duration_ms = models.PositiveIntegerField(default=0, help_text="Time spent running the code.")
    row_count = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    result_kind = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    refusal_rule = models.CharField(max_length=64, blank=True, help_text="The validator rule that refused the code.")
    model_id = models.CharField(max_length=128, blank=True, help_text="The model actually used.")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="aa_querylog_user_created"),
            models.Index(fields=["-created_at"], name="aa_querylog_created"),
        ]

    def __str__(self) -> str:
        return self.question[:60]
