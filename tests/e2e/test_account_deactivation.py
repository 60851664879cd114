"""Deactivating an account stops its running answers and locks it out, over a real server.

HTTP client → uvicorn → Django ASGI → the streaming engine → the LLM emulator. The
deactivation runs as staff would run it (the service behind the admin action), in another
thread than the server; the engine's stop flag reaches the generation as `POST …/stop/` would.
"""

from __future__ import annotations

import threading

import httpx

from appauth import services
from chat.models import Message
from tests.sse import headers, parse_sse


def test_deactivation_stops_the_running_answer_and_the_next_request_is_401(live, alice):
    user, token = alice
    first_delta = threading.Event()
    state: dict = {}

    def reader() -> None:
        with (
            httpx.Client(base_url=live.url, timeout=30) as client,
            client.stream(
                "POST",
                "/api/v1/chat/messages/",
                json={"content": "[[emu:tokens=2000]] [[emu:delay_ms=20]] a long answer"},
                headers=headers(token),
            ) as response,
        ):
            events = []
            for event in parse_sse(response.iter_lines()):
                events.append(event)
                if event.event == "delta":
                    state.setdefault("message_id", events[0].data["assistant_message_id"])
                    first_delta.set()
            state["events"] = events

    thread = threading.Thread(target=reader)
    thread.start()
    assert first_delta.wait(10)

    services.user_deactivate(user=user)  # commits at once: the revocation runs on commit

    thread.join(15)
    assert not thread.is_alive()
    last = state["events"][-1]
    assert last.event == "message_stop" and last.data["stop_reason"] == "cancelled"
    message = Message.objects.get(id=state["message_id"])
    assert message.status == "cancelled"
    assert 0 < message.output_tokens < 2000  # stopped part-way, its partial text kept
    assert message.text
    with httpx.Client(base_url=live.url, timeout=10) as client:
        assert client.get("/api/v1/auth/profile/", headers=headers(token)).status_code == 401
