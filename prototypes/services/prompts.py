"""The model requests behind each kind of version: generate, variant, edit and its rewrite fallback.

System prompts are text files in `prototypes/prompts/` (reviewed like code, loaded once).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.conf import settings

from backend.llm.types import CallContext, LLMRequest, Message, TextBlock

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
ALIAS = "prototype"


@functools.cache
def system_prompt(name: str) -> str:
    """`generate`, `variant`, `edit` or `rewrite`."""
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").strip()


def _request(*, prompt_name: str, user_text: str, user_id: Any, version_id: Any) -> LLMRequest:
    return LLMRequest(
        alias=ALIAS,
        system=(TextBlock(system_prompt(prompt_name)),),
        messages=(Message.user(user_text),),
        max_tokens=settings.PROTOTYPE_MAX_TOKENS or None,
        context=CallContext(purpose="prototype", user_id=user_id, reference=f"prototypes.version:{version_id}"),
    )


def _project_context(project_name: str, project_description: str) -> str:
    if not project_description.strip():
        return f"Design project: {project_name}\n\n"
    return f"Design project: {project_name}\nProject context:\n{project_description.strip()}\n\n"


def _current_page(html: str) -> str:
    return f'Current HTML:\n<prototype_file name="index.html">\n{html}\n</prototype_file>\n\n'


def generate_request(
    *, prompt: str, project_name: str, project_description: str, user_id: Any, version_id: Any
) -> LLMRequest:
    text = _project_context(project_name, project_description) + f"Create this UI prototype:\n{prompt}"
    return _request(prompt_name="generate", user_text=text, user_id=user_id, version_id=version_id)


def variant_request(*, base_html: str, guidance: str, user_id: Any, version_id: Any) -> LLMRequest:
    ask = "Create a distinctly different alternative design of this prototype."
    if guidance.strip():
        ask += f"\nDirection for the variant:\n{guidance.strip()}"
    return _request(
        prompt_name="variant", user_text=_current_page(base_html) + ask, user_id=user_id, version_id=version_id
    )


def edit_request(*, base_html: str, prompt: str, user_id: Any, version_id: Any) -> LLMRequest:
    text = _current_page(base_html) + f"Requested change:\n{prompt}"
    return _request(prompt_name="edit", user_text=text, user_id=user_id, version_id=version_id)


def rewrite_request(*, base_html: str, prompt: str, user_id: Any, version_id: Any) -> LLMRequest:
    text = _current_page(base_html) + f"Requested change:\n{prompt}"
    return _request(prompt_name="rewrite", user_text=text, user_id=user_id, version_id=version_id)
