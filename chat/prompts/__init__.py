"""System prompts kept as text files beside this module, loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def load(name: str) -> str:
    """The prompt file `<name>.txt`, stripped."""
    return (_HERE / f"{name}.txt").read_text(encoding="utf-8").strip()
