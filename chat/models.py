"""Chat data: projects with knowledge, chats, a tree of message pairs, messages, attachments, usage.

The conversation is a tree, not a list: every `MessagePair` (one user turn and the assistant's
answer) points at the pair it follows. Editing a message or regenerating an answer adds a
sibling pair under the same parent, so nothing is ever overwritten; `Chat.active_leaf` marks
the branch the user sees, and the active branch is the path from that leaf to the root.
Messages live in their own rows; files are referenced by storage key, never stored inline.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from backend.streaming.models import GenerationRecord


class Project(models.Model):
    """A container of chats sharing instructions and knowledge (Claude-style projects)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Added to the system prompt of every chat in the project.")
    tools_enabled = models.BooleanField(default=True, help_text="Off: the assistant may not use tools in its chats.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="chat_project_user_updated")]

    def __str__(self) -> str:
        return self.name


class ProjectKnowledge(models.Model):
    """A document of a project; those marked `include_in_chat` are sent with every chat of the project."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="knowledge")
    title = models.CharField(max_length=200)
    content = models.TextField()
    include_in_chat = models.BooleanField(default=True)
    token_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "project knowledge"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["project", "created_at"], name="chat_knowledge_project")]

    def __str__(self) -> str:
        return self.title


class SavedSystemPrompt(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_prompts")
    name = models.CharField(max_length=200)
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="chat_prompt_user_updated")]

    def __str__(self) -> str:
        return self.name


class Chat(models.Model):
    class TitleSource(models.TextChoices):
        DEFAULT = "default", "default"
        GENERATED = "generated", "generated"
        USER = "user", "user"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="chats")
    title = models.CharField(max_length=200, default="New chat")
    title_source = models.CharField(max_length=16, choices=TitleSource.choices, default=TitleSource.DEFAULT)
    # The chat's own system prompt wins over a saved one; with neither, the default prompt applies.
    system_prompt = models.TextField(blank=True)
    saved_prompt = models.ForeignKey(
        SavedSystemPrompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="chats"
    )
    model = models.CharField(max_length=64, blank=True, help_text="Model alias; empty = the default alias.")
    archived = models.BooleanField(default=False)
    incognito = models.BooleanField(default=False, help_text="Never used for memory.")
    tools_enabled = models.BooleanField(default=True, help_text="Off: the assistant may not use tools here.")
    active_leaf = models.ForeignKey("MessagePair", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_message_preview = models.CharField(max_length=200, blank=True)
    # On PostgreSQL, database triggers raise this on every write to the chat's pairs, messages and
    # attachments and on every switch of the active leaf (migration 0006_chat_history_version), and
    # never let it go back: (chat, history_version) names one state of the conversation, the key
    # of the cached history pages and model context. Stays 0 on other databases (nothing is cached).
    history_version = models.BigIntegerField(default=0, editable=False)
    # Raised (by the same triggers) only when turns already in the history change: the key of the
    # cached model context, which new turns and streaming answers must not invalidate.
    history_edit_version = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # The chat list: a user's (un)archived chats, newest activity first, keyset-paginated.
            models.Index(fields=["user", "archived", "-updated_at", "-id"], name="chat_list"),
            models.Index(fields=["project", "-updated_at"], name="chat_project_updated"),
        ]

    def __str__(self) -> str:
        return self.title


class MessagePair(models.Model):
    """One turn: a user message and the assistant's answer to it, placed in the conversation tree."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="pairs")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    depth = models.PositiveIntegerField(default=0, help_text="0 for the first turn of a chat.")
    hidden = models.BooleanField(default=False, help_text="Left out of the context sent to the model.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["depth", "created_at"]
        indexes = [
            models.Index(fields=["chat", "depth", "created_at"], name="chat_pair_chat_depth"),
            models.Index(fields=["parent", "created_at"], name="chat_pair_siblings"),
        ]

    def __str__(self) -> str:
        return f"pair {self.id} of chat {self.chat_id}"


class Message(GenerationRecord):
    class Role(models.TextChoices):
        USER = "user", "user"
        ASSISTANT = "assistant", "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming", "streaming"
        COMPLETE = "complete", "complete"
        ERROR = "error", "error"
        CANCELLED = "cancelled", "cancelled"
        INTERRUPTED = "interrupted", "interrupted"

    TERMINAL = frozenset({Status.COMPLETE, Status.ERROR, Status.CANCELLED, Status.INTERRUPTED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pair = models.ForeignKey(MessagePair, on_delete=models.CASCADE, related_name="messages")
    # The chat's user, copied here so that "this user's answers still generating" is one lookup in
    # a small partial index (the concurrency limit at admission) instead of a join through every
    # user's streaming messages. Filled from the pair on save; bulk writers set it themselves.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # For an assistant message: the text so far while streaming, the partial text after a failure.
    # The generation fields (model, usage, error, heartbeat, ...) come from GenerationRecord.
    text = models.TextField(blank=True)
    model_alias = models.CharField(max_length=64, blank=True)
    token_count = models.PositiveIntegerField(default=0, help_text="Estimated tokens of this message's content.")
    # Turns the client was told were left out of the context because the budget was exceeded.
    context_omitted = models.JSONField(default=list, blank=True)

    class KnowledgeMode(models.TextChoices):
        NONE = "", "none"  # no project knowledge in the context
        WHOLE = "whole", "whole"  # the included knowledge, sent whole
        RETRIEVAL = "retrieval", "retrieval"  # beyond the budget: the chunks found for the question

    knowledge_mode = models.CharField(max_length=16, choices=KnowledgeMode.choices, blank=True, default="")
    # The knowledge chunks sent in retrieval mode, as cited: [{"index", "chunk_id", "knowledge_id", "title", ...}].
    citations = models.JSONField(default=list, blank=True)
    # The tool calls of the answer, in order: [{"call_id", "tool", "input", "status", "result", ...}].
    tool_calls = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["pair", "role"], name="chat_message_one_per_role")]
        indexes = [
            # The sweeper's scan: generations that stopped heart-beating.
            models.Index(fields=["heartbeat_at"], name="chat_message_streaming", condition=Q(status="streaming")),
            # The concurrency limit: one user's generations, starting from the user.
            models.Index(fields=["user"], name="chat_message_user_streaming", condition=Q(status="streaming")),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.user_id is None and self.pair_id is not None:
            pair = self.pair if Message.pair.is_cached(self) else None
            if pair is not None and MessagePair.chat.is_cached(pair):
                self.user_id = pair.chat.user_id
            else:
                self.user_id = Chat.objects.filter(pairs__id=self.pair_id).values_list("user_id", flat=True).first()
        super().save(*args, **kwargs)


class Attachment(models.Model):
    """A file a user uploaded for a message (the seed's MessageContent for files)."""

    class Kind(models.TextChoices):
        IMAGE = "image", "image"
        DOCUMENT = "document", "document"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    format = models.CharField(max_length=16, help_text="Converse format: png, jpeg, pdf, docx, ...")
    mime_type = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="chat/attachments/%Y/%m/", max_length=300)
    size_bytes = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="chat_attachment_user")]

    def __str__(self) -> str:
        return self.name


class TokenUsage(models.Model):
    """Daily roll-up of model usage per user, chat and purpose: cheap per-chat/project/user totals."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_token_usage")
    chat = models.ForeignKey(Chat, null=True, blank=True, on_delete=models.SET_NULL, related_name="token_usage")
    # The chat's id when the usage was recorded (kept after the chat is deleted), or the nil UUID.
    chat_ref = models.UUIDField(default=uuid.UUID(int=0))
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="token_usage")
    day = models.DateField()
    purpose = models.CharField(max_length=32, default="chat")
    model_id = models.CharField(max_length=128)
    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        verbose_name_plural = "token usage"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "chat_ref", "day", "purpose", "model_id"],
                name="chat_token_usage_rollup",
            )
        ]
        indexes = [
            models.Index(fields=["user", "day"], name="chat_usage_user_day"),
            models.Index(fields=["chat"], name="chat_usage_chat"),
            models.Index(fields=["project"], name="chat_usage_project"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.purpose} {self.model_id}"


# --- Memory: facts about the user, remembered across chats ------------------------------------------


class MemorySettings(models.Model):
    """A user's memory switch. No row means memory is on (the default)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="memory_settings"
    )
    enabled = models.BooleanField(default=True, help_text="Off: nothing is remembered and nothing is recalled.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "memory settings"

    def __str__(self) -> str:
        return f"memory {'on' if self.enabled else 'off'} for user {self.user_id}"


class MemoryTag(models.Model):
    """A user's label for memories (per user: one user's tags never show up for another)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_tags")
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="chat_memory_tag_unique")]

    def __str__(self) -> str:
        return self.name


class UserMemory(models.Model):
    """One fact about a user, with where it came from.

    `project` set: recalled only inside that project's chats. A contradicted fact is kept,
    inactive, pointing at the fact that replaced it (`superseded_by`).
    """

    class Category(models.TextChoices):
        PERSONAL = "personal", "personal"
        PREFERENCE = "preference", "preference"
        WORK = "work", "work"
        SKILL = "skill", "skill"
        INTEREST = "interest", "interest"
        GOAL = "goal", "goal"
        OTHER = "other", "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memories")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="memories")
    summary = models.CharField(max_length=300)
    raw_content = models.TextField(blank=True, help_text="What the user said that supports the fact.")
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    confidence = models.FloatField(default=1.0)
    tags = models.ManyToManyField(MemoryTag, blank=True, related_name="memories")
    source_chat = models.ForeignKey(Chat, null=True, blank=True, on_delete=models.SET_NULL, related_name="memories")
    source_pair = models.ForeignKey(
        MessagePair, null=True, blank=True, on_delete=models.SET_NULL, related_name="memories"
    )
    is_verified = models.BooleanField(default=False, help_text="Confirmed by the user.")
    is_active = models.BooleanField(default=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    times_referenced = models.PositiveIntegerField(default=0)
    last_referenced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "user memories"
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "is_active", "-updated_at"], name="chat_memory_user_active")]

    def __str__(self) -> str:
        return self.summary


class MemoryExtraction(models.Model):
    """That memory extraction ran for a turn: the claim that makes a redelivered task a no-op."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "applied"
        INVALID = "invalid", "invalid"  # the model's output was dropped

    id = models.BigAutoField(primary_key=True)
    pair = models.OneToOneField(MessagePair, on_delete=models.CASCADE, related_name="memory_extraction")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    superseded = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="chat_memory_extraction_created")]

    def __str__(self) -> str:
        return f"extraction of pair {self.pair_id}: {self.outcome}"


# --- Sharing: read-only snapshots of a chat behind an unguessable link ---------------------------------


class ChatShare(models.Model):
    """A read-only snapshot of a chat's active branch at the time it was shared.

    The link's token is shown once, at creation; only its SHA-256 is stored (`token_hash`), so
    the database alone opens no share. The snapshot holds the text, never the owner's identity,
    the system prompt or the project; later edits to the chat do not change it. Attachments are
    referenced (and served through share-scoped signed URLs) only when `include_attachments`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_shares")
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=8, editable=False, help_text="The token's first characters.")
    title = models.CharField(max_length=200)
    snapshot = models.JSONField(default=dict, help_text="The shared turns: [{role, text, status, ...}].")
    include_attachments = models.BooleanField(default=False)
    attachment_ids = models.JSONField(default=list, blank=True, help_text="The attachments the share may serve.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="chat_share_user_created")]

    def __str__(self) -> str:
        return f"share {self.token_hint}… of chat {self.chat_id}"
