"""Writes of the chat app: plain functions with keyword-only arguments, owning their transactions."""
