"""The emulator answers the product's own tasks in the shape each expects (no Django involved)."""

import pytest

from backend.llm.emulator.plan import make_plan
from backend.llm.emulator.state import EmulatorState

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def request(user: str, system: str = "", tool: str | None = None) -> dict:
    body: dict = {"messages": [{"role": "user", "content": [{"text": user}]}]}
    if system:
        body["system"] = [{"text": system}]
    if tool:
        body["toolConfig"] = {"tools": [{"toolSpec": {"name": tool, "inputSchema": {"json": {}}}}]}
    return body


def answer_text(body: dict) -> str:
    return "".join(make_plan(body, MODEL, EmulatorState(1024)).reply.text_tokens)


@pytest.mark.parametrize(
    ("conversation", "title"),
    [
        ("User: plan a trip to Lisbon in May\n\nAssistant: Sure", "Plan a trip to Lisbon"),
        # A length directive quoted from the user's message was meant for the chat answer.
        ("User: I prefer Python. Explain closures. [[emu:tokens=300]]", "I prefer Python Explain closures"),
    ],
)
def test_a_title_is_the_first_words_of_the_users_first_message(conversation, title):
    body = request(f"<conversation>\n{conversation}\n</conversation>", "You name conversations.")

    assert answer_text(body) == title


def test_memory_extraction_calls_the_tool_with_the_users_statements():
    body = request(
        "<known_memories>\n(none)\n</known_memories>\n\n<conversation>\nUser: My name is Ada. I work as a "
        "data engineer! Tell me a joke.\n\nAssistant: I like puns.\n</conversation>",
        tool="record_memories",
    )

    reply = make_plan(body, MODEL, EmulatorState(1024)).reply

    assert reply.stop_reason == "tool_use"
    assert reply.tool_call is not None and reply.tool_call.name == "record_memories"
    summaries = [(m["summary"], m["category"]) for m in reply.tool_call.input["memories"]]
    assert summaries == [("Is named Ada", "personal"), ("Works as a data engineer", "work")]  # not the assistant's


def test_nothing_worth_remembering_is_an_empty_list():
    reply = make_plan(
        request("<conversation>\nUser: what is 2+2\n</conversation>", tool="record_memories"),
        MODEL,
        EmulatorState(1024),
    ).reply

    assert reply.tool_call is not None and reply.tool_call.input == {"memories": []}


def test_the_rewrite_fallback_returns_the_whole_page_with_the_change():
    page = "<html><body><h1>Hi</h1></body></html>"
    body = request(
        f'Current HTML:\n<prototype_file name="index.html">\n{page}\n</prototype_file>\n\n'
        "Requested change:\nBigger <b>",
        "complete updated page",
    )

    text = answer_text(body)

    assert '<prototype_file name="index.html">' in text
    assert "Edited: Bigger &lt;b&gt;" in text and "<h1>Hi</h1>" in text


def test_a_directive_or_a_rule_wins_over_the_task_answer():
    titled = request("<conversation>\nUser: a b c [[emu:reply=Set]]\n</conversation>", "You name conversations.")
    prototype = request("Create this UI prototype: a page [[emu:tokens=3]]")
    state = EmulatorState(1024)
    state.add_rule({"match": "Lisbon", "response": {"text": "Scripted"}})

    assert answer_text(titled) == "Set"
    assert answer_text(prototype).startswith("Echo:")
    assert (
        "".join(
            make_plan(
                request("<conversation>\nUser: Lisbon\n</conversation>", "You name conversations."), MODEL, state
            ).reply.text_tokens
        )
        == "Scripted"
    )


def test_an_ordinary_chat_message_keeps_the_echo_reply():
    assert answer_text(request("Hello there")).startswith("Echo: Hello there")


def test_a_length_directive_quoted_from_the_users_message_does_not_stop_memory_extraction():
    """The README's slow demo message carries `[[emu:tokens=300]]`: its memory is still recorded."""
    body = request(
        "<conversation>\nUser: I prefer Python. Explain closures. [[emu:tokens=300]] [[emu:delay_ms=50]]\n"
        "</conversation>",
        tool="record_memories",
    )

    reply = make_plan(body, MODEL, EmulatorState(1024)).reply

    assert reply.tool_call is not None
    assert [m["summary"] for m in reply.tool_call.input["memories"]] == ["Prefers Python"]


def test_an_explicit_reply_still_wins_over_memory_extraction():
    body = request("<conversation>\nUser: I prefer tea [[emu:reply=plain]]\n</conversation>", tool="record_memories")

    assert answer_text(body) == "plain"
