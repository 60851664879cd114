"""Canned answers to the product's own tasks, in the shape each task expects.

The default reply (``Echo: ...``) suits a chat, but the product also asks the model to name a
chat, to record memories through a tool, and to write or change HTML prototypes. Answered with
an echo, those features would look broken on the embedded defaults. Here each task is
recognised from its request (system prompt, tools, user text) and answered in its expected
shape, still plainly canned:

- **title**: a short title made of the first words of the user's first message;
- **memory extraction** (a ``record_memories`` tool): a tool call whose facts are the user's
  own first-person statements ("I prefer ...", "I work ...", "my name is ...");
- **prototype generation**: a small Tailwind page about the prompt, in ``<prototype_file>``;
- **variant**: the same page in another layout and palette;
- **edit**: one ``<prototype_edit>`` find/replace that adds a note of the requested change
  (or, for the whole-page rewrite, the page with that note).

Rules and reply directives (``[[emu:reply=...]]``, ``[[emu:tokens=N]]``) take precedence.
Standard library only, like the rest of the emulator.
"""

from __future__ import annotations

import html
import re
from typing import Any

from backend.llm.emulator.directives import strip_directives
from backend.llm.emulator.replies import Reply, new_tool_call, tokenize_text

TITLE_WORDS = 5
MAX_FACTS = 5
MEMORY_TOOL = "record_memories"

_CONVERSATION = re.compile(r"<conversation>\n?(.*?)\n?</conversation>", re.DOTALL)
_USER_TURN = re.compile(r"^User:\s*(.*?)(?=^Assistant:|\Z)", re.DOTALL | re.MULTILINE)
_CURRENT_PAGE = re.compile(r'<prototype_file name="index.html">\n?(.*?)\n?</prototype_file>', re.DOTALL)
_SENTENCE = re.compile(r"[^.!?\n]+")
_TITLE_TAG = re.compile(r"<title>(.*?)</title>", re.DOTALL | re.IGNORECASE)
# First-person statements and how a memory states them in the third person.
_FACT_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), summary, category)
    for pattern, summary, category in (
        (r"^\s*my name is\s+(.+)", "Is named {}", "personal"),
        (r"^\s*i(?: am|'m) an? (.+)", "Is a {}", "work"),
        (r"^\s*i work (.+)", "Works {}", "work"),
        (r"^\s*i (?:usually |always )?prefer (.+)", "Prefers {}", "preference"),
        (r"^\s*i (?:really )?(?:like|love|enjoy) (.+)", "Likes {}", "interest"),
        (r"^\s*i (?:usually |always )?(?:use|write|code in) (.+)", "Uses {}", "skill"),
        (r"^\s*i(?: am|'m) learning (.+)", "Is learning {}", "goal"),
        (r"^\s*i live in (.+)", "Lives in {}", "personal"),
    )
)
_STOPWORDS = frozenset({"a", "an", "and", "the", "of", "in", "on", "at", "to", "for", "with", "my", "is", "as"})


def ignores_length_directives(request: dict[str, Any]) -> bool:
    """Whether `request` is a task over a quoted conversation (memory extraction, a title).

    These tasks quote the user's messages, directives included: a `[[emu:tokens=N]]` there was
    meant for the chat answer, not for the task, so it does not turn the memory tool call or the
    title into an echo. `reply=`, rules and faults still win.
    """
    tools = (request.get("toolConfig") or {}).get("tools", [])
    if any(tool.get("toolSpec", {}).get("name") == MEMORY_TOOL for tool in tools):
        return True
    return any("You name conversations" in block.get("text", "") for block in request.get("system") or [])


def product_task_reply(request: dict[str, Any]) -> Reply | None:
    """The canned answer to a product task, or None when ``request`` is not one."""
    system = "\n".join(block["text"] for block in request.get("system") or [] if "text" in block)
    user_text = _last_user_text(request)
    tools = [tool.get("toolSpec", {}).get("name") for tool in (request.get("toolConfig") or {}).get("tools", [])]
    if MEMORY_TOOL in tools:
        return _tool_reply(MEMORY_TOOL, {"memories": _facts(_user_turns(user_text))})
    if "You name conversations" in system:
        return _text_reply(_title(_user_turns(user_text)))
    if "Create this UI prototype:" in user_text:
        prompt = user_text.split("Create this UI prototype:", 1)[1]
        return _text_reply(_generated(strip_directives(prompt).strip()))
    page = _CURRENT_PAGE.search(user_text)
    if page is None:
        return None
    if "distinctly different alternative design" in user_text:
        return _text_reply(_variant(page.group(1)))
    if "Requested change:" in user_text:
        change = strip_directives(user_text.split("Requested change:", 1)[1]).strip()
        if "<prototype_edit>" in system:
            return _text_reply(_edit(page.group(1), change))
        return _text_reply(_rewrite(page.group(1), change))
    return None


def _last_user_text(request: dict[str, Any]) -> str:
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    if not users:
        return ""
    return "\n".join(block["text"] for block in users[-1].get("content", []) if "text" in block)


def _user_turns(text: str) -> list[str]:
    conversation = _CONVERSATION.search(text)
    body = conversation.group(1) if conversation else text
    turns = [strip_directives(turn).strip() for turn in _USER_TURN.findall(body)]
    return [turn for turn in turns if turn] or ([strip_directives(body).strip()] if body.strip() else [])


def _text_reply(text: str) -> Reply:
    return Reply(tuple(tokenize_text(text)), None, "end_turn")


def _tool_reply(name: str, tool_input: dict[str, Any]) -> Reply:
    return Reply((), new_tool_call(name, tool_input), "tool_use")


# --- chat tasks ------------------------------------------------------------------------------


def _title(turns: list[str]) -> str:
    words = re.findall(r"[\w'-]+", turns[0]) if turns else []
    if not words:
        return "New conversation"
    title = " ".join(words[:TITLE_WORDS])
    return title[:1].upper() + title[1:]


def _facts(turns: list[str]) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    for turn in turns:
        for sentence in _SENTENCE.findall(turn):
            fact = _fact(sentence.strip())
            if fact is not None and all(fact["summary"] != known["summary"] for known in facts):
                facts.append(fact)
            if len(facts) == MAX_FACTS:
                return facts
    return facts


def _fact(sentence: str) -> dict[str, Any] | None:
    for pattern, summary, category in _FACT_PATTERNS:
        match = pattern.match(sentence)
        if match is None:
            continue
        rest = match.group(1).strip().rstrip(",;:")
        if not rest:
            return None
        tags = [word.lower() for word in re.findall(r"[\w+#-]+", rest) if word.lower() not in _STOPWORDS][:3]
        return {
            "summary": summary.format(rest)[:300],
            "content": sentence,
            "category": category,
            "confidence": 0.9,
            "tags": tags,
        }
    return None


# --- prototypes ----------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body class="{body}">
<main class="mx-auto max-w-3xl px-6 py-16">
<p class="text-sm font-semibold uppercase tracking-wide {accent}">Canned prototype from the Bedrock emulator</p>
<h1 class="mt-2 text-4xl font-bold tracking-tight">{title}</h1>
<p class="mt-4 text-lg {muted}">{prompt}</p>
<div class="mt-10 grid gap-6 {grid}">
<section class="rounded-xl {card} p-6 shadow-sm"><h2 class="font-semibold">Overview</h2>\
<p class="mt-2 text-sm {muted}">A placeholder section: connect Amazon Bedrock for a real design.</p></section>
<section class="rounded-xl {card} p-6 shadow-sm"><h2 class="font-semibold">Details</h2>\
<p class="mt-2 text-sm {muted}">Every reply of the emulator is canned.</p></section>
</div>
<button type="button" class="mt-10 rounded-lg {button} px-5 py-3 font-semibold text-white">Get started</button>
</main>
</body>
</html>"""
_LIGHT = {
    "body": "min-h-screen bg-slate-50 text-slate-900",
    "accent": "text-indigo-600",
    "muted": "text-slate-600",
    "grid": "sm:grid-cols-2",
    "card": "bg-white",
    "button": "bg-indigo-600",
}
_DARK = {
    "body": "min-h-screen bg-slate-900 text-slate-100",
    "accent": "text-emerald-400",
    "muted": "text-slate-300",
    "grid": "grid-cols-1",
    "card": "bg-slate-800",
    "button": "bg-emerald-600",
}


def _page(title: str, prompt: str, palette: dict[str, str]) -> str:
    return _PAGE.format(title=html.escape(title), prompt=html.escape(prompt), **palette)


def _generated(prompt: str) -> str:
    title = _title([prompt]) if prompt else "Prototype"
    page = _page(title, prompt, _LIGHT)
    return (
        f"A canned one-page layout for “{title}”: a heading, two sections and a call to action.\n"
        f'<prototype_file name="index.html">\n{page}\n</prototype_file>'
    )


def _variant(base: str) -> str:
    found = _TITLE_TAG.search(base)
    title = html.unescape(found.group(1)).strip() if found else "Prototype"
    page = _page(title, "An alternative layout: one column on a dark palette.", _DARK)
    return (
        "A canned variant: one column on a dark palette with an emerald accent.\n"
        f'<prototype_file name="index.html">\n{page}\n</prototype_file>'
    )


def _note(change: str) -> str:
    return f'<p class="mt-6 rounded bg-amber-100 p-3 text-sm text-amber-900">Edited: {html.escape(change)}</p>'


def _edit(base: str, change: str) -> str:
    anchor = "</main>" if base.count("</main>") == 1 else "</body>"
    if base.count(anchor) != 1:
        return f"The canned edit needs one {anchor} to anchor on; this page has none."
    return (
        "A canned edit: a note of the requested change added at the end of the page.\n"
        f"<prototype_edit>\n<find>\n{anchor}\n</find>\n<replace>\n{_note(change)}\n{anchor}\n</replace>\n"
        "</prototype_edit>"
    )


def _rewrite(base: str, change: str) -> str:
    anchor = "</body>" if "</body>" in base else ""
    page = base.replace(anchor, f"{_note(change)}\n{anchor}", 1) if anchor else f"{base}\n{_note(change)}"
    return (
        "A canned rewrite: the page with a note of the requested change.\n"
        f'<prototype_file name="index.html">\n{page}\n</prototype_file>'
    )
