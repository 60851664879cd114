"""What every streamed generation stores, and the Idempotency-Keys of the requests that start one.

`GenerationRecord` is abstract: an app's record (a chat's assistant message, a prototype
version, ...) inherits the fields the engine reads and writes, and declares its own `status`
(its `TextChoices` must include `streaming`, `complete`, `error`, `cancelled`, `interrupted`;
an app may add more, as prototypes add `incomplete`) and the text field it streams into.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

STREAMING = "streaming"


class GenerationRecord(models.Model):
    """The generation fields of a streamed record (see `backend.streaming.engine`)."""

    model_id = models.CharField(max_length=128, blank=True, help_text="The model that was actually called.")
    stop_reason = models.CharField(max_length=64, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0, help_text="USD, as billed.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # The process running the generation, and its last sign of life (see `backend.streaming.workers`).
    worker_id = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of its generation.")
    # The highest event id the generation's log had handed out when the text was last written
    # here: a replay from this record continues after it, so ids never go back.
    event_seq = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_terminal(self) -> bool:
        return self.status != STREAMING  # type: ignore[attr-defined]

    def usage_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


class IdempotencyKey(models.Model):
    """A request that started a generation, so that its retry replays it instead of starting another.

    `scope` names the engine ("chat", "prototypes", ...); `record_id` is the generation's record.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=32)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    record_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="streaming_idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
