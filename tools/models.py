"""The audit trail of tool calls: one row per call a model asked for, whatever became of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ToolCallAudit(models.Model):
    """Append-only: who ran which tool with what input, how it ended and how long it took."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"  # the tool ran and refused (not found, invalid state, ...)
        INVALID = "invalid", "invalid"  # the input did not match the tool's schema: nothing ran
        DENIED = "denied", "denied"  # unknown tool, tool switched off or permission missing: nothing ran
        REJECTED = "rejected", "rejected"  # a destructive call the user refused
        TIMEOUT = "timeout", "timeout"  # a destructive call nobody confirmed in time
        LIMIT = "limit", "limit"  # past the step or token bound of the answer: nothing ran

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tool_calls")
    tool = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, help_text="read, write or destructive")
    call_id = models.CharField(max_length=100)
    reference = models.CharField(max_length=100, help_text="What the call belongs to, e.g. chat.message:<uuid>.")
    input = models.JSONField(default=dict)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True, help_text="The error shown to the model, if any.")
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="tools_audit_user"),
            models.Index(fields=["reference"], name="tools_audit_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} {self.outcome}"
