"""Shared core library of the product. It imports no app; apps import it."""
