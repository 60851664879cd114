"""Reads of the chat app. Writes live in `chat.services`."""
