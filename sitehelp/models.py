"""Anonymous help conversations: sessions of the widget, their turns and the visitors' feedback.

Nothing here names a person: a session is a random id whose signed token the visitor's browser
holds; no IP address, user agent or account is stored. Turns of the ask page (channel `page`)
keep no question and, once answered, no answer: only what the answer cost.
"""

from __future__ import annotations

import uuid

from django.db import models

from backend.streaming.models import GenerationRecord


class HelpSession(models.Model):
    """A widget conversation, started by the visitor's first message."""

    class ConsentMode(models.TextChoices):
        AUTO = "auto", "Asked by the widget"
        HOST = "host", "Given through the host's consent tool"
        NONE = "none", "Not asked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    language = models.CharField(max_length=8, default="en")
    consent_mode = models.CharField(max_length=8, choices=ConsentMode.choices, default=ConsentMode.AUTO)
    # The page that embeds the widget (the request's Origin), for the staff's statistics.
    origin = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_activity_at = models.DateTimeField(help_text="Sessions expire HELP_SESSION_IDLE_SECONDS after this.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"help session {self.id}"


class HelpMessage(GenerationRecord):
    """One question and its streamed answer (the engine's record; `answer` is streamed into)."""

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        ERROR = "error", "Error"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    class Channel(models.TextChoices):
        WIDGET = "widget", "Widget"
        PAGE = "page", "Ask page"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(HelpSession, on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WIDGET)
    language = models.CharField(max_length=8, default="en")
    question = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STREAMING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["session", "created_at"], name="sitehelp_msg_session_created")]

    def __str__(self) -> str:
        return f"help message {self.id} ({self.status})"


class HelpFeedback(models.Model):
    """A visitor's rating (+1/-1) of one answer, with an optional comment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.OneToOneField(HelpMessage, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(choices=[(1, "Helpful"), (-1, "Not helpful")])
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(rating__in=[1, -1]), name="sitehelp_feedback_rating")]

    def __str__(self) -> str:
        return f"feedback {self.rating:+d} on {self.message_id}"
