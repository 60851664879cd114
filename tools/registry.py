"""The tool registry: what the assistant may call, with its schema, permission and kind.

A tool is registered by the app that owns the data it acts on (`register(Tool(...))` at import
of a module listed in `settings.TOOLS_MODULES`); this app knows none of them. Each tool has

- a JSON schema for its input (validated before anything runs: the model's input is untrusted);
- a kind, in the vocabulary of MCP tool annotations: `read` runs at once, `write` runs and is
  reported, `destructive` waits for the user's confirmation;
- an optional Django permission (`settings.TOOLS_REQUIRED_PERMISSIONS` may add one by name),
  checked when the tool list is offered and again when the call runs; the ownership check is
  the tool's own code, which fetches every object through its owner-scoped selector.
"""

from __future__ import annotations

import enum
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from backend.llm.types import ToolSpec

if TYPE_CHECKING:
    from django.contrib.auth.models import _User  # the user model, without importing its app


class Kind(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True)
class ToolContext:
    """Who calls, from where. Never taken from the model: the chat's adapter builds it."""

    user: _User
    chat_id: Any = None
    project_id: Any = None  # the chat's project, the default scope of project tools
    reference: str = ""  # e.g. chat.message:<uuid>, for the audit


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    kind: Kind
    run: Callable[[ToolContext, dict[str, Any]], Any]  # returns JSON-serialisable data
    permission: str | None = None
    # What a confirmation card says about a destructive call (it may read the database).
    summary: Callable[[ToolContext, dict[str, Any]], str] | None = None

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, input_schema=self.input_schema)

    def required_permission(self) -> str | None:
        return dict(settings.TOOLS_REQUIRED_PERMISSIONS).get(self.name) or self.permission


_tools: dict[str, Tool] = {}
_loaded = False
_lock = threading.Lock()


def register(tool: Tool) -> Tool:
    if tool.input_schema.get("type") != "object":
        raise ValueError(f"tool {tool.name}: the input schema must describe an object")
    _tools[tool.name] = tool
    return tool


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            for module in settings.TOOLS_MODULES:
                importlib.import_module(module)
            _loaded = True


def tools_all() -> list[Tool]:
    _load()
    return sorted(_tools.values(), key=lambda tool: tool.name)


def tool_get(name: str) -> Tool | None:
    _load()
    return _tools.get(name)
