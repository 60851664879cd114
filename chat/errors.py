"""The stable error codes of chat (a public contract: never rename one).

Chat raises backend's error classes (`NotFound`, `Conflict`, …) with one of these codes; the
shared codes (`invalid`, `not_found`, `unknown_model`, `llm_*`, …) are `backend.errors.ErrorCode`.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Lookups: unknown, or another user's (404)
    CHAT_NOT_FOUND = "chat_not_found"
    PAIR_NOT_FOUND = "pair_not_found"
    MESSAGE_NOT_FOUND = "message_not_found"
    PROJECT_NOT_FOUND = "project_not_found"
    KNOWLEDGE_NOT_FOUND = "knowledge_not_found"
    SAVED_PROMPT_NOT_FOUND = "saved_prompt_not_found"
    MEMORY_NOT_FOUND = "memory_not_found"
    MEMORY_TAG_NOT_FOUND = "memory_tag_not_found"
    ATTACHMENT_NOT_FOUND = "attachment_not_found"
    # Messages and chats
    EMPTY_MESSAGE = "empty_message"
    MESSAGE_TOO_LONG = "message_too_long"
    AMBIGUOUS_SYSTEM_PROMPT = "ambiguous_system_prompt"  # both saved_prompt_id and system_prompt (400)
    GENERATION_IN_PROGRESS = "generation_in_progress"  # that part of the chat is still answering (409)
    INVALID_EXPORT = "invalid_export"
    # Titles (409)
    NOTHING_TO_TITLE = "nothing_to_title"
    NO_TITLE_SUGGESTED = "no_title_suggested"
    TITLE_CHANGED = "title_changed"
    # Projects and knowledge
    KNOWLEDGE_BUDGET_EXCEEDED = "knowledge_budget_exceeded"
    DOCUMENT_WITHOUT_TEXT = "document_without_text"
    # Memory (409)
    MEMORY_TAG_EXISTS = "memory_tag_exists"
    INCOGNITO_CHAT = "incognito_chat"
    MEMORY_DISABLED = "memory_disabled"
    # Attachments. What a file is comes from its bytes, never from its name or Content-Type.
    # 415: the content is not a supported image or document (an executable, a zip, an SVG…).
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
    # 400: a supported type whose name has a known extension that says otherwise (a PNG named .pdf).
    FILE_TYPE_MISMATCH = "file_type_mismatch"
    # 400: sniffs as an image but does not decode, or claims more pixels than IMAGE_MAX_PIXELS.
    INVALID_IMAGE = "invalid_image"
    EMPTY_FILE = "empty_file"
    # 413: over CHAT_MAX_UPLOAD_BYTES, a document over the model's limit, or an image that
    # cannot be shrunk enough.
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    # 400: a message would carry more images or documents than allowed.
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    # 400: already sent with another message.
    ATTACHMENT_ALREADY_CLAIMED = "attachment_already_claimed"
    # 400: a claim onto a message that is not the user's own user message.
    INVALID_MESSAGE = "invalid_message"
    # 409: deleting an attachment that was sent with a message.
    ATTACHMENT_IN_USE = "attachment_in_use"

    # Shared chats and import
    IMPORT_TOO_LARGE = "import_too_large"
    UNSUPPORTED_EXPORT_TYPE = "unsupported_export_type"
    SHARE_NOT_FOUND = "share_not_found"
    SHARE_REVOKED = "share_revoked"
    SHARE_EXPIRED = "share_expired"
    SHARE_GONE = "share_gone"
    ATTACHMENT_LINK_INVALID = "attachment_link_invalid"
    NOTHING_TO_SHARE = "nothing_to_share"
