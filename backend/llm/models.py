"""The usage ledger: one row per model call, whatever feature made it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class LLMCall(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"
        CANCELLED = "cancelled", "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_calls"
    )
    purpose = models.CharField(max_length=32, default="other")
    reference = models.CharField(max_length=128, blank=True, help_text="What the call was for, e.g. chat.message:<id>.")
    alias = models.CharField(max_length=64)
    model_id = models.CharField(max_length=128, help_text="The model that actually answered (or failed last).")
    provider = models.CharField(
        max_length=16, default="bedrock", help_text="The provider of that model: bedrock, anthropic or openai."
    )
    attempts = models.JSONField(default=list, blank=True, help_text="Models tried before it, with their failure.")
    streamed = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    error_code = models.CharField(max_length=64, blank=True)
    stop_reason = models.CharField(max_length=64, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    usage_estimated = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0, help_text="USD")

    class Meta:
        verbose_name = "LLM call"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="llm_call_user_created"),
            models.Index(fields=["purpose", "-created_at"], name="llm_call_purpose_created"),
            models.Index(fields=["reference"], name="llm_call_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.model_id} {self.status}"


class UserBudget(models.Model):
    """One user's monthly budget, overriding the defaults from settings (backend.llm.budget).

    A null limit means "the default"; 0 means "unlimited" for this user.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="llm_budget"
    )
    monthly_token_limit = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Tokens (input, output, cache) per calendar month (UTC). Empty: the default; 0: unlimited.",
    )
    monthly_cost_limit_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="USD per calendar month (UTC). Empty: the default; 0: unlimited.",
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why this user has their own budget.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user budget"

    def __str__(self) -> str:
        return f"budget of user {self.user_id}"
