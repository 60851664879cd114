"""Prototype generations end to end: HTTP → uvicorn → Django ASGI → LLM layer → emulator over HTTP.

Scripted emulator replies stream word by word, so the `<prototype_file name="index.html">` tag
arrives split across many deltas.
"""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from backend.llm.models import LLMCall
from prototypes.models import DesignProject, Prototype, PrototypeVariant, PrototypeVersion
from tests.helpers import assert_error
from tests.sse import stream_events

API = "/api/v1/prototypes"
PRIMARY = "us.anthropic.claude-sonnet-4-6"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Pricing</title>
  <script src="https://cdn.tailwindcss.com"></script>
</head>
<body class="bg-white">
  <h1 class="text-3xl font-bold text-gray-900">Simple pricing</h1>
  <img src="https://via.placeholder.com/300x200" alt="Plans">
  <button class="rounded bg-blue-600 px-4 py-2 text-white">Start trial</button>
</body>
</html>"""
SAVED_PAGE = PAGE.replace('<script src="https://cdn.tailwindcss.com"></script>', "").replace(
    "https://via.placeholder.com/300x200", "PLACEHOLDER"
)
GENERATED = (
    f'A clean pricing page with one call to action.\n<prototype_file name="index.html">\n{PAGE}\n</prototype_file>'
)


def _saved(html: str) -> str:
    return re.sub(r'src="data:image/svg\+xml[^"]*"', 'src="PLACEHOLDER"', html)


def deltas(events) -> str:
    return "".join(e.data["text"] for e in events if e.event == "delta")


@pytest.fixture
def project(alice):
    user, _ = alice
    return DesignProject.objects.create(user=user, name="Shop", description="A shop for climbing gear")


def generate(live, token, project, prompt="A pricing page"):
    body = {"design_project_id": str(project.id), "prompt": prompt}
    return stream_events(live, "POST", f"{API}/generate/", token, json_body=body)


def test_generate_streams_the_page_and_saves_prototype_variant_and_version_1(live, alice, emulator, project):
    user, token = alice
    emulator.add_rule({"match": "Create this UI prototype", "response": {"text": GENERATED}, "times": 1})

    events = generate(live, token, project)

    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].event == "message_start"
    assert events[-1].event == "message_stop"
    assert deltas(events) == GENERATED
    # The opening tag arrived split across deltas.
    assert not any('<prototype_file name="index.html">' in e.data["text"] for e in events if e.event == "delta")
    start, stop = events[0].data, events[-1].data
    assert start["model"] == PRIMARY
    assert (stop["status"], stop["stop_reason"]) == ("complete", "end_turn")
    prototype = Prototype.objects.get(id=start["prototype_id"])
    assert prototype.initial_prompt == "A pricing page"
    variant = PrototypeVariant.objects.get(id=start["variant_id"], prototype=prototype)
    assert variant.is_original
    version = PrototypeVersion.objects.get(id=start["version_id"], variant=variant)
    assert (version.version_number, version.status, version.kind) == (1, "complete", "generate")
    assert _saved(version.html_content) == SAVED_PAGE  # CDN script gone, remote image replaced
    assert version.summary == "A clean pricing page with one call to action."
    assert version.raw_output == GENERATED
    assert version.model_id == PRIMARY
    assert version.output_tokens == stop["usage"]["output_tokens"] > 0
    assert version.input_tokens > 0
    assert any("cdn.tailwindcss.com" in note for note in version.sanitizer_notes)
    call = LLMCall.objects.get(purpose="prototype")
    assert (call.reference, call.user_id, call.alias) == (f"prototypes.version:{version.id}", user.id, "prototype")
    request = emulator.requests()[-1]
    assert "A shop for climbing gear" in str(request)


def test_max_tokens_saves_an_incomplete_version_not_a_good_one(live, alice, emulator, project):
    _, token = alice
    emulator.add_rule({"match": "Create this UI prototype", "response": {"text": GENERATED}, "times": 1})

    with override_settings(PROTOTYPE_MAX_TOKENS=30):
        events = generate(live, token, project)

    assert events[-1].event == "message_stop"
    assert (events[-1].data["stop_reason"], events[-1].data["status"]) == ("max_tokens", "incomplete")
    version = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert version.status == "incomplete"
    assert version.html_content.startswith("<!DOCTYPE html>")
    assert "</html>" not in version.html_content
    assert version.error_code == "max_tokens"


def test_a_truncated_stream_is_incomplete_with_an_error_event(live, alice, project):
    _, token = alice

    events = generate(live, token, project, prompt="A pricing page [[emu:tokens=40]] [[emu:truncate@10]]")

    assert events[-1].event == "error"
    assert events[-1].data["code"] == "llm_truncated"
    version = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert version.status == "incomplete"
    assert version.raw_output == deltas(events)


def test_a_midstream_error_keeps_the_partial_answer_incomplete(live, alice, project):
    _, token = alice

    events = generate(
        live, token, project, prompt="A page [[emu:tokens=40]] [[emu:midstream_error=modelStreamErrorException@5]]"
    )

    assert events[-1].event == "error"
    version = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert version.status == "incomplete"
    assert version.error_code == events[-1].data["code"]


def test_an_answer_without_a_page_is_an_error(live, alice, project):
    _, token = alice

    events = generate(live, token, project, prompt="A page [[emu:tokens=12]]")

    assert events[-1].event == "error"
    assert events[-1].data["code"] == "no_prototype_in_answer"
    assert PrototypeVersion.objects.get(id=events[0].data["version_id"]).status == "error"


def _first_version(live, token, project, emulator) -> PrototypeVersion:
    emulator.add_rule({"match": "Create this UI prototype", "response": {"text": GENERATED}, "times": 1})
    events = generate(live, token, project)
    return PrototypeVersion.objects.get(id=events[0].data["version_id"])


def test_create_version_applies_find_and_replace_and_changes_only_what_was_asked(live, alice, emulator, project):
    _, token = alice
    v1 = _first_version(live, token, project, emulator)
    edit = (
        "Made the button green.\n<prototype_edit>\n<find>\n"
        '  <button class="rounded bg-blue-600 px-4 py-2 text-white">Start trial</button>\n'
        "</find>\n<replace>\n"
        '  <button class="rounded bg-green-600 px-4 py-2 text-white">Start trial</button>\n'
        "</replace>\n</prototype_edit>"
    )
    emulator.add_rule({"match": "Requested change", "response": {"text": edit}, "times": 1})

    events = stream_events(
        live, "POST", f"{API}/variants/{v1.variant_id}/create-version/", token, json_body={"prompt": "Green button"}
    )

    assert events[-1].data["status"] == "complete"
    v2 = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert (v2.version_number, v2.kind, v2.edit_mode, v2.base_version_id) == (2, "edit", "patch", v1.id)
    assert v2.html_content == v1.html_content.replace("bg-blue-600", "bg-green-600")
    assert v2.summary == "Made the button green."
    assert v2.edit_prompt == "Green button"
    assert '-  <button class="rounded bg-blue-600' in v2.diff and '+  <button class="rounded bg-green-600' in v2.diff
    assert v2.diff.count("\n-") == 1  # one line changed, nothing else rewritten
    sent = str(emulator.requests()[-1])
    assert "Simple pricing" in sent  # the stored HTML went to the model


def test_an_edit_whose_find_text_is_missing_falls_back_to_a_full_rewrite(live, alice, emulator, project):
    _, token = alice
    v1 = _first_version(live, token, project, emulator)
    bad_edit = "<prototype_edit><find>bg-purple-900</find><replace>bg-green-600</replace></prototype_edit>"
    emulator.add_rule({"match": "one <prototype_edit> block", "response": {"text": bad_edit}, "times": 1})
    rewritten = PAGE.replace("Simple pricing", "Fair pricing")
    emulator.add_rule(
        {
            "match": "return the COMPLETE updated page",
            "response": {"text": f'Renamed the heading.<prototype_file name="index.html">{rewritten}</prototype_file>'},
            "times": 1,
        }
    )

    events = stream_events(
        live, "POST", f"{API}/variants/{v1.variant_id}/create-version/", token, json_body={"prompt": "Fair pricing"}
    )

    assert events[-1].event == "message_stop"
    assert any(e.data.get("phase") == "rewrite" for e in events if e.event == "delta")
    v2 = PrototypeVersion.objects.get(id=events[0].data["version_id"])
    assert (v2.status, v2.edit_mode) == ("complete", "rewrite")
    assert "Fair pricing" in v2.html_content and "cdn.tailwindcss.com" not in v2.html_content
    assert v2.summary == "Renamed the heading."
    assert LLMCall.objects.filter(purpose="prototype").count() == 3
    assert v2.output_tokens == sum(
        LLMCall.objects.filter(reference=f"prototypes.version:{v2.id}").values_list("output_tokens", flat=True)
    )


def test_create_variant_makes_a_new_variant_from_the_latest_good_version(live, alice, emulator, project):
    _, token = alice
    v1 = _first_version(live, token, project, emulator)
    alternative = PAGE.replace("bg-white", "bg-slate-900")
    emulator.add_rule(
        {
            "match": "DISTINCTLY DIFFERENT",
            "response": {"text": f'Dark version.<prototype_file name="index.html">{alternative}</prototype_file>'},
            "times": 1,
        }
    )

    events = stream_events(
        live,
        "POST",
        f"{API}/prototypes/{v1.variant.prototype_id}/create-variant/",
        token,
        json_body={"prompt": "Try a dark theme"},
    )

    assert events[-1].data["status"] == "complete"
    variant = PrototypeVariant.objects.get(id=events[0].data["variant_id"])
    assert not variant.is_original
    assert variant.source_variant_id == v1.variant_id
    version = variant.versions.get()
    assert (version.version_number, version.kind, version.base_version_id) == (1, "variant", v1.id)
    assert "bg-slate-900" in version.html_content
    assert "Try a dark theme" in str(emulator.requests()[-1])


def test_an_edit_needs_a_complete_version_to_start_from(live, alice, project):
    _, token = alice
    events = generate(live, token, project, prompt="A page [[emu:tokens=12]]")  # ends `error`
    variant_id = events[0].data["variant_id"]

    import httpx

    from tests.sse import headers

    response = httpx.post(
        f"{live.url}{API}/variants/{variant_id}/create-version/", json={"prompt": "x"}, headers=headers(token)
    )

    assert_error(response, 409, "no_complete_version")


def test_resume_with_last_event_id_replays_exactly_what_was_missed(live, alice, emulator, project):
    _, token = alice
    emulator.add_rule({"match": "Create this UI prototype", "response": {"text": GENERATED}, "times": 1})
    events = generate(live, token, project)
    version_id = events[0].data["version_id"]

    rest = stream_events(
        live, "GET", f"{API}/versions/{version_id}/stream/", token, extra_headers={"Last-Event-ID": str(events[5].id)}
    )

    assert (rest[0].id, rest[0].event, rest[0].data) == (None, "message_start", events[0].data)
    assert [(e.id, e.event) for e in rest[1:]] == [(e.id, e.event) for e in events[6:]]


def test_another_users_version_stream_is_a_404(live, alice, bob, emulator, project):
    _, alice_token = alice
    _, bob_token = bob
    v1 = _first_version(live, alice_token, project, emulator)

    import httpx

    from tests.sse import headers

    response = httpx.get(f"{live.url}{API}/versions/{v1.id}/stream/", headers=headers(bob_token))
    edit = httpx.post(
        f"{live.url}{API}/variants/{v1.variant_id}/create-version/", json={"prompt": "x"}, headers=headers(bob_token)
    )

    assert response.status_code == 404
    assert_error(edit, 404, "variant_not_found")


def test_stop_ends_the_version_cancelled_with_what_was_streamed(live, alice, project):
    import httpx

    from tests.sse import headers, stream_in_background

    _, token = alice
    body = {"design_project_id": str(project.id), "prompt": "[[emu:tokens=500]] [[emu:delay_ms=20]] a page"}
    stream = stream_in_background(live, "POST", f"{API}/generate/", token, json_body=body)
    assert stream.wait_for_first_delta()
    version_id = stream.start["version_id"]

    response = httpx.post(f"{live.url}{API}/versions/{version_id}/stop/", headers=headers(token))

    events = stream.join()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    version = PrototypeVersion.objects.get(id=version_id)
    assert version.status == "cancelled"
    assert version.raw_output and version.raw_output == deltas(events)
    assert events[-1].event == "message_stop"
    assert events[-1].data["stop_reason"] == "cancelled"


def test_a_repeat_with_the_same_idempotency_key_streams_the_same_version(live, alice, emulator, project):
    _, token = alice
    emulator.add_rule({"match": "Create this UI prototype", "response": {"text": GENERATED}, "times": 1})
    body = {"design_project_id": str(project.id), "prompt": "A pricing page"}
    key = {"Idempotency-Key": "generate-1"}

    first = stream_events(live, "POST", f"{API}/generate/", token, json_body=body, extra_headers=key)
    again = stream_events(live, "POST", f"{API}/generate/", token, json_body=body, extra_headers=key)

    import httpx

    from tests.sse import headers

    reused = httpx.post(f"{live.url}{API}/generate/", json={**body, "prompt": "Other"}, headers=headers(token, **key))

    assert again[0].data["version_id"] == first[0].data["version_id"]
    assert deltas(again) == deltas(first) == GENERATED
    assert Prototype.objects.count() == 1
    assert LLMCall.objects.filter(purpose="prototype").count() == 1
    assert_error(reused, 409, "idempotency_key_reused")
