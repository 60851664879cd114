"""Memory: extraction after a turn (scripted `record_memories` replies), merging, superseding, recall."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.llm import service as llm
from backend.llm.models import LLMCall
from chat import tasks
from chat.models import Chat, MemoryExtraction, MemorySettings, MemoryTag, Message, UserMemory
from chat.services import memory as services
from chat.services.context import context_build
from chat.services.generation import generation_finish
from tests.chat.factories import ChatFactory, MessageFactory, MessagePairFactory, ProjectFactory, turn
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXTRACTION = "known_memories"  # text only the extraction request contains


def fact(summary: str, **fields) -> dict:
    return {"summary": summary, "category": "preference", "confidence": 0.9, "tags": [], **fields}


def script(emulator, *memories: dict, times: int | None = None) -> None:
    rule = {
        "match": EXTRACTION,
        "response": {"tool_use": {"name": "record_memories", "input": {"memories": list(memories)}}},
    }
    emulator.add_rule(rule if times is None else {**rule, "times": times})


def answered(chat: Chat, question: str = "I write Python at work", answer: str = "Nice.") -> Message:
    pair = turn(chat, user_text=question, assistant_text=answer)
    return pair.messages.get(role=Message.Role.ASSISTANT)


def extract(answer: Message) -> int:
    return tasks.extract_turn_memories.delay(str(answer.id)).get()


def extraction_requests(emulator) -> list[dict]:
    return [r for r in emulator.requests() if EXTRACTION in str(r["body"]["messages"])]


@pytest.fixture
def chat():
    return ChatFactory()


# --- extraction ------------------------------------------------------------------------------------


def test_valid_facts_become_memories_with_tags_and_provenance(emulator, chat):
    script(emulator, fact("Writes Python at work", category="work", tags=["Python", "work"], content="I write Python"))
    answer = answered(chat)

    assert extract(answer) == 1

    memory = UserMemory.objects.get(user=chat.user)
    assert (memory.summary, memory.category, memory.confidence) == ("Writes Python at work", "work", 0.9)
    assert memory.raw_content == "I write Python"
    assert sorted(memory.tags.values_list("name", flat=True)) == ["python", "work"]
    assert (memory.source_chat_id, memory.source_pair_id) == (chat.id, answer.pair_id)
    assert (memory.is_active, memory.is_verified, memory.project_id) == (True, False, None)
    assert MemoryExtraction.objects.get(pair=answer.pair).outcome == "applied"
    [request] = extraction_requests(emulator)
    assert "haiku" in request["model_id"]
    assert request["body"]["toolConfig"]["toolChoice"] == {"tool": {"name": "record_memories"}}
    call = LLMCall.objects.get(purpose="memory")
    assert (call.user_id, call.reference) == (chat.user_id, f"chat.pair:{answer.pair_id}")


def test_a_project_chat_remembers_inside_its_project(emulator):
    project = ProjectFactory()
    chat = ChatFactory(user=project.user, project=project)
    script(emulator, fact("Targets Django 5.2 in this project"))

    extract(answered(chat))

    assert UserMemory.objects.get(user=chat.user).project_id == project.id


def test_a_completed_answer_enqueues_extraction_on_commit(emulator, chat, django_capture_on_commit_callbacks):
    script(emulator, fact("Prefers short answers"))
    pair = MessagePairFactory(chat=chat)
    MessageFactory(pair=pair, role=Message.Role.USER, text="Keep it short please")
    answer = MessageFactory(pair=pair, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, text="")

    with django_capture_on_commit_callbacks(execute=True):
        generation_finish(message_id=answer.id, status=Message.Status.COMPLETE, text="Sure.")
        assert not extraction_requests(emulator)

    assert UserMemory.objects.filter(user=chat.user, summary="Prefers short answers").exists()


def test_incognito_chats_are_never_remembered(emulator, django_capture_on_commit_callbacks):
    script(emulator, fact("Prefers short answers"))
    chat = ChatFactory(incognito=True)
    pair = MessagePairFactory(chat=chat)
    MessageFactory(pair=pair, role=Message.Role.USER, text="Keep it short please")
    answer = MessageFactory(pair=pair, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, text="")

    with django_capture_on_commit_callbacks(execute=True):
        generation_finish(message_id=answer.id, status=Message.Status.COMPLETE, text="Sure.")
    extract(answer)  # even when asked directly

    assert not extraction_requests(emulator)
    assert not UserMemory.objects.exists()


def test_nothing_is_remembered_with_memory_switched_off(emulator, chat):
    script(emulator, fact("Prefers short answers"))
    services.memory_settings_set(user=chat.user, enabled=False)

    assert extract(answered(chat)) == 0

    assert not extraction_requests(emulator)
    assert not UserMemory.objects.exists()


def test_switching_memory_off_during_the_model_call_drops_the_result(emulator, chat, monkeypatch):
    script(emulator, fact("Prefers short answers"))
    real_complete = llm.complete

    def complete_then_switch_off(request):
        completion = real_complete(request)
        MemorySettings.objects.update_or_create(user=chat.user, defaults={"enabled": False})
        return completion

    monkeypatch.setattr(llm, "complete", complete_then_switch_off)

    extract(answered(chat))

    assert not UserMemory.objects.exists()


@pytest.mark.parametrize(
    "response",
    [
        {"text": "The user likes Python."},  # no tool call at all
        {"tool_use": {"name": "record_memories", "input": {"facts": []}}},
        {"tool_use": {"name": "record_memories", "input": {"memories": "Likes Python"}}},
        {"tool_use": {"name": "record_memories", "input": {"memories": [fact("Likes Python", category="hobby")]}}},
        {"tool_use": {"name": "record_memories", "input": {"memories": [fact("Likes Python", confidence=7)]}}},
        {"tool_use": {"name": "record_memories", "input": {"memories": [fact("")]}}},
        {"tool_use": {"name": "record_memories", "input": {"memories": [fact("x", supersedes="not-an-id")]}}},
        {"tool_use": {"name": "something_else", "input": {"memories": []}}},
    ],
    ids=["text", "no-list", "list-is-string", "bad-category", "bad-confidence", "empty-summary", "bad-id", "tool"],
)
def test_invalid_model_output_is_logged_and_dropped(emulator, chat, caplog, response):
    emulator.add_rule({"match": EXTRACTION, "response": response})
    answer = answered(chat)

    with caplog.at_level(logging.WARNING, logger="chat.services.memory"):
        assert extract(answer) == 0
        assert extract(answer) == 0  # the turn counts as processed: no second model call

    assert not UserMemory.objects.exists()
    assert MemoryExtraction.objects.get(pair=answer.pair).outcome == "invalid"
    assert "invalid model output" in caplog.text
    assert len(extraction_requests(emulator)) == 1


def test_a_restated_fact_updates_the_memory_instead_of_adding_one(emulator, chat):
    script(emulator, fact("Prefers Python for scripting", tags=["python"], confidence=0.7), times=1)
    extract(answered(chat))
    script(emulator, fact("Prefers Python for scripting tasks", tags=["scripting"], confidence=0.95), times=1)

    extract(answered(chat, question="Again, Python for my scripts"))

    memory = UserMemory.objects.get(user=chat.user)
    assert memory.summary == "Prefers Python for scripting tasks"
    assert memory.confidence == 0.95
    assert sorted(memory.tags.values_list("name", flat=True)) == ["python", "scripting"]
    assert MemoryTag.objects.filter(user=chat.user).count() == 2


def test_a_verified_memory_keeps_the_users_wording(emulator, chat):
    mine = services.memory_create(user=chat.user, summary="Prefers Python for scripting")
    script(emulator, fact("Prefers Python for scripting jobs"))

    extract(answered(chat))

    mine.refresh_from_db()
    assert mine.summary == "Prefers Python for scripting"
    assert UserMemory.objects.count() == 1


def test_known_memories_are_shown_to_the_model_with_their_ids(emulator, chat):
    known = services.memory_create(user=chat.user, summary="Lives in Lisbon")
    script(emulator)

    extract(answered(chat, question="I moved from Lisbon"))

    assert f"id={known.id}: Lives in Lisbon" in str(extraction_requests(emulator)[0]["body"]["messages"])


def test_a_contradicting_fact_supersedes_the_old_one(emulator, chat):
    old = services.memory_create(user=chat.user, summary="Lives in Lisbon", category="personal")
    script(emulator, fact("Lives in Berlin", category="personal", supersedes=str(old.id)))

    extract(answered(chat, question="I moved to Berlin last month"))

    old.refresh_from_db()
    new = UserMemory.objects.get(user=chat.user, is_active=True)
    assert new.summary == "Lives in Berlin"
    assert (old.is_active, old.superseded_by_id) == (False, new.id)


def test_another_users_memory_cannot_be_superseded(emulator, chat):
    foreign = services.memory_create(user=UserFactory(), summary="Lives in Lisbon")
    script(emulator, fact("Lives in Berlin", supersedes=str(foreign.id)))

    extract(answered(chat))

    foreign.refresh_from_db()
    assert foreign.is_active
    assert UserMemory.objects.filter(user=chat.user).count() == 1


def test_low_confidence_facts_are_not_kept(emulator, chat, settings):
    settings.CHAT_MEMORY_MIN_CONFIDENCE = 0.5
    script(emulator, fact("Might like cats", confidence=0.2), fact("Works as a nurse", confidence=0.8))

    extract(answered(chat))

    assert list(UserMemory.objects.values_list("summary", flat=True)) == ["Works as a nurse"]


def test_a_redelivered_extraction_changes_nothing_twice(emulator, chat):
    script(emulator, fact("Prefers short answers"))
    answer = answered(chat)

    assert (extract(answer), extract(answer)) == (1, 0)

    assert UserMemory.objects.count() == 1
    assert len(extraction_requests(emulator)) == 1


def test_a_copy_that_lost_the_race_writes_nothing(emulator, chat, monkeypatch):
    """Two deliveries pass the early check; the claim in the writing transaction lets one through."""
    script(emulator, fact("Prefers short answers"))
    answer = answered(chat)
    real_complete = llm.complete

    def complete_while_the_other_copy_commits(request):
        completion = real_complete(request)
        MemoryExtraction.objects.create(pair=answer.pair, outcome="applied")
        return completion

    monkeypatch.setattr(llm, "complete", complete_while_the_other_copy_commits)

    assert extract(answer) == 0
    assert not UserMemory.objects.exists()


def test_a_throttled_extraction_is_retried_and_applied_once(emulator, chat, settings):
    settings.CHAT_TASK_RETRY_BACKOFF_SECONDS = 0.01
    script(emulator, fact("Prefers short answers"))
    emulator.add_rule({"match": EXTRACTION, "response": {"fault": "throttle"}, "times": 4})
    answer = answered(chat)

    tasks.extract_turn_memories.apply(args=(str(answer.id),), throw=False)

    assert UserMemory.objects.count() == 1
    assert sorted(LLMCall.objects.filter(purpose="memory").values_list("status", flat=True)) == ["error", "ok"]


def test_manual_extraction_from_a_chat_merges_on_rerun(emulator, chat, django_capture_on_commit_callbacks):
    turn(chat, user_text="I am a nurse", assistant_text="Thanks for sharing.")
    script(emulator, fact("Works as a nurse", category="work"))

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.memory_extract_chat_schedule(chat=chat)

    assert UserMemory.objects.filter(user=chat.user).count() == 1
    first, _ = extraction_requests(emulator)
    assert "I am a nurse" in str(first["body"]["messages"])
    assert LLMCall.objects.filter(purpose="memory", reference=f"chat.chat:{chat.id}").count() == 2


# --- recall ------------------------------------------------------------------------------------------


def test_the_context_block_holds_the_most_relevant_memories_within_the_budget(chat, settings):
    settings.CHAT_MEMORY_CONTEXT_TOKENS = 90
    relevant = services.memory_create(user=chat.user, summary="Deploys Django apps on Kubernetes")
    for index in range(10):
        services.memory_create(user=chat.user, summary=f"Unrelated hobby number {index} with long description")

    block = services.memory_context_block(chat=chat, query="How do I deploy Django on Kubernetes?")

    assert block is not None
    assert block.memories[0] == relevant
    assert 1 < len(block.memories) < 11  # more than the single nearest one, but within the budget
    assert block.token_estimate <= 90
    assert block.text.startswith("<user_memory>")
    assert "- Deploys Django apps on Kubernetes [other]" in block.text


def test_project_memories_are_recalled_only_inside_their_project(chat):
    project = ProjectFactory(user=chat.user)
    services.memory_create(user=chat.user, summary="Uses tabs", project_id=project.id)
    services.memory_create(user=chat.user, summary="Is called Ada")
    project_chat = ChatFactory(user=chat.user, project=project)

    outside = services.memory_context_block(chat=chat, query="tabs")
    inside = services.memory_context_block(chat=project_chat, query="tabs")

    assert [m.summary for m in outside.memories] == ["Is called Ada"]
    assert [m.summary for m in inside.memories] == ["Uses tabs", "Is called Ada"]


def test_recall_marks_memories_referenced_and_the_preview_does_not(chat):
    memory = services.memory_create(user=chat.user, summary="Is called Ada")

    services.memory_context_block(chat=chat, query="hi", mark_referenced=False)
    memory.refresh_from_db()
    assert memory.times_referenced == 0

    services.memory_context_block(chat=chat, query="hi")
    memory.refresh_from_db()
    assert memory.times_referenced == 1
    assert memory.last_referenced_at is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statements ride along in PostgreSQL's pipeline mode")
@pytest.mark.django_db(transaction=True)  # outside a transaction, as admission runs
def test_memories_read_with_the_running_count_are_taken_by_the_context_of_the_same_user_and_project(
    django_assert_num_queries,
):
    from chat.services.generation import ChatAdapter

    chat = ChatFactory()
    project = ProjectFactory(user=chat.user)
    services.memory_create(user=chat.user, summary="Is called Ada")
    services.memory_create(user=chat.user, summary="Uses tabs", project_id=project.id)

    services.recall_ahead(user_id=chat.user_id, project_id=None)
    with django_assert_num_queries(2):  # the count and the memories, sent together
        assert ChatAdapter().running_count(user=chat.user)[0] == 0
    with django_assert_num_queries(0):
        block = services.memory_context_block(chat=chat, query="hi", mark_referenced=False)
    assert [m.summary for m in block.memories] == ["Is called Ada"]

    # Taken once; and memories read for another project (or user) are not this chat's.
    services.recall_ahead(user_id=chat.user_id, project_id=project.id)
    ChatAdapter().running_count(user=chat.user)
    with django_assert_num_queries(1):
        block = services.memory_context_block(chat=chat, query="hi", mark_referenced=False)
    assert [m.summary for m in block.memories] == ["Is called Ada"]
    with django_assert_num_queries(1):
        services.memory_context_block(chat=chat, query="hi", mark_referenced=False)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statements ride along in PostgreSQL's pipeline mode")
@pytest.mark.django_db(transaction=True)  # outside a transaction, as admission runs
def test_a_follow_ups_memories_are_read_with_the_running_count_for_its_chats_project(django_assert_num_queries):
    """The statement reads the chat's project itself (the admission has not read the chat yet)."""
    from chat.services.generation import ChatAdapter
    from tests.chat.factories import ChatFactory as Chats

    project = ProjectFactory()
    user = project.user
    in_project, outside = Chats(user=user, project=project), Chats(user=user)
    someone_elses = Chats(project=ProjectFactory())
    services.memory_create(user=user, summary="Is called Ada")
    services.memory_create(user=user, summary="Uses tabs", project_id=project.id)

    for chat, expected in [(in_project, ["Uses tabs", "Is called Ada"]), (outside, ["Is called Ada"])]:
        services.recall_ahead(user_id=user.id, chat_id=chat.id)
        with django_assert_num_queries(2):  # the count and the memories, sent together
            ChatAdapter().running_count(user=user)
        with django_assert_num_queries(0):
            block = services.memory_context_block(chat=chat, query="tabs", mark_referenced=False)
        assert [m.summary for m in block.memories] == expected
        assert expected == [
            m.summary for m in services.memory_context_block(chat=chat, query="tabs", mark_referenced=False).memories
        ]  # as read afterwards

    # Another user's chat lends its project to no one; read for another chat, not taken.
    services.recall_ahead(user_id=user.id, chat_id=someone_elses.id)
    ChatAdapter().running_count(user=user)
    with django_assert_num_queries(1):
        block = services.memory_context_block(chat=in_project, query="tabs", mark_referenced=False)
    assert [m.summary for m in block.memories] == ["Uses tabs", "Is called Ada"]


def test_inactive_memories_are_not_recalled(chat):
    services.memory_create(user=chat.user, summary="Lives in Lisbon")
    UserMemory.objects.update(is_active=False)

    assert services.memory_context_block(chat=chat, query="Lisbon") is None


@pytest.mark.parametrize("case", ["incognito", "memory off"])
def test_no_recall_in_incognito_chats_or_with_memory_off(chat, case):
    services.memory_create(user=chat.user, summary="Is called Ada")
    if case == "incognito":
        chat.incognito = True
    else:
        services.memory_settings_set(user=chat.user, enabled=False)

    assert services.memory_context_block(chat=chat, query="hi") is None


def test_the_model_receives_the_memory_block_after_the_cached_system_prefix(chat):
    services.memory_create(user=chat.user, summary="Is called Ada")
    pair = turn(chat, user_text="What is my name?", assistant_text="")
    Message.objects.filter(pair=pair, role=Message.Role.ASSISTANT).update(status=Message.Status.STREAMING)
    assistant = pair.messages.get(role=Message.Role.ASSISTANT)

    built = context_build(assistant_message=assistant)

    texts = [getattr(block, "text", "") for block in built.request.system]
    assert "Is called Ada" not in texts[0]
    assert texts[-1].startswith("<user_memory>") and "- Is called Ada [other]" in texts[-1]


# --- validation ------------------------------------------------------------------------------------


def test_facts_parse_normalises_tags_and_ids():
    memory_id = "0b7d3c38-7c4a-4d0e-9a59-2f7a3e3f1c11"

    [parsed] = services.facts_parse(
        {"memories": [fact("  Likes tea ", tags=["Tea", "tea", " drinks "], supersedes=memory_id, confidence=1)]}
    )

    assert (parsed.summary, parsed.tags, str(parsed.supersedes)) == ("Likes tea", ("tea", "drinks"), memory_id)
    assert parsed.confidence == 1.0


def test_facts_parse_refuses_too_many_facts():
    with pytest.raises(services.InvalidExtraction):
        services.facts_parse({"memories": [fact(f"fact {i}") for i in range(services.MAX_FACTS + 1)]})


# --- cleanup -----------------------------------------------------------------------------------------


def test_old_extraction_claims_are_purged_by_beat_and_their_memories_stay(emulator, chat, settings):
    script(emulator, fact("Prefers short answers"))
    answer = answered(chat)
    extract(answer)
    MemoryExtraction.objects.update(created_at=timezone.now() - timedelta(days=31))
    fresh = answered(chat, question="again")
    MemoryExtraction.objects.create(pair=fresh.pair, outcome="applied")

    assert tasks.purge_memory_extractions.delay().get() == 1

    assert list(MemoryExtraction.objects.values_list("pair_id", flat=True)) == [fresh.pair_id]
    assert UserMemory.objects.count() == 1
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"chat.tasks.purge_memory_extractions", "backend.streaming.tasks.sweep_generations"} <= scheduled


@pytest.mark.parametrize("case", ["memory off", "nothing remembered", "memory on"])
def test_recall_reads_the_memory_switch_in_the_same_query(chat, case, django_assert_num_queries):
    if case != "nothing remembered":
        services.memory_create(user=chat.user, summary="Is called Ada")
    if case == "memory off":
        services.memory_settings_set(user=chat.user, enabled=False)

    with django_assert_num_queries(1 if case != "memory on" else 2):  # + the referenced mark (tags come along)
        block = services.memory_context_block(chat=chat, query="hi")

    assert (block is not None) == (case == "memory on")


def test_recall_brings_the_tag_names_with_the_memories_and_ranks_by_them(chat, django_assert_num_queries):
    services.memory_create(user=chat.user, summary="Writes code at work", tags=["zeta", "alpha"])
    services.memory_create(user=chat.user, summary="Likes tea", tags=[])

    with django_assert_num_queries(2):  # the recall with its tags, the referenced mark
        block = services.memory_context_block(chat=chat, query="tell me about zeta")

    assert block is not None and "- Writes code at work [other; alpha, zeta]" in block.text
    assert block.memories[0].summary == "Writes code at work"  # the tag matched the question
