"""Browsers stream as docs/streaming.md says: `fetch` with a session and its CSRF token, and
`EventSource` to resume — with the session cookie, or with a single-use ticket for token clients.

Playwright drives Debian's Chromium (/usr/bin/chromium); pages run on the live server's origin.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from django.test import Client

from tests.e2e.browser import requires_chromium
from tests.sse import headers, stream_events

pytestmark = requires_chromium

# Reads a fetch() stream to its end and returns the SSE events it held.
FETCH_STREAM = """async ([path, body, csrf]) => {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body: JSON.stringify(body),
  });
  const text = await response.text();
  const events = text.split("\\n\\n").filter(block => block.includes("event: ")).map(block => {
    const fields = Object.fromEntries(block.split("\\n").filter(l => !l.startsWith(":")).map(l => {
      const at = l.indexOf(": "); return [l.slice(0, at), l.slice(at + 2)];
    }));
    return {id: fields.id ?? null, event: fields.event, data: JSON.parse(fields.data)};
  });
  return {status: response.status, events};
}"""

# Follows an EventSource until its terminal event; returns what it saw.
EVENT_SOURCE = """(url) => new Promise((resolve) => {
  const source = new EventSource(url, {withCredentials: true});
  const seen = [];
  const record = (name) => source.addEventListener(name, (e) => {
    seen.push({event: name, id: e.lastEventId, data: JSON.parse(e.data)});
    if (name === "message_stop" || name === "error") { source.close(); resolve({seen}); }
  });
  ["message_start", "delta", "snapshot", "message_stop", "error"].forEach(record);
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) resolve({seen, failed: true}); };
  setTimeout(() => { source.close(); resolve({seen, timeout: true}); }, 20000);
})"""


def _session_page(browser: Any, live: Any, user: Any) -> tuple[Any, str]:
    client = Client()
    client.force_login(user)
    secret = _get_new_csrf_string()
    context = browser.new_context()
    context.add_cookies(
        [
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live.url},
            {"name": "csrftoken", "value": secret, "url": live.url},
        ]
    )
    page = context.new_page()
    page.goto(f"{live.url}/healthz")
    return page, _mask_cipher_secret(secret)


def _text(events: list[dict]) -> str:
    text = ""
    for event in events:
        if event["event"] == "delta":
            text += event["data"]["text"]
        elif event["event"] == "snapshot":
            text = event["data"]["text"]
    return text


def test_a_session_browser_streams_with_fetch_and_resumes_with_event_source(browser, live, alice):
    user, _ = alice
    page, csrf = _session_page(browser, live, user)

    sent = page.evaluate(FETCH_STREAM, ["/api/v1/chat/messages/", {"content": "[[emu:tokens=12]] hello"}, csrf])
    refused = page.evaluate(FETCH_STREAM, ["/api/v1/chat/messages/", {"content": "no csrf"}, ""])

    assert sent["status"] == 200
    events = sent["events"]
    assert (events[0]["event"], events[-1]["event"]) == ("message_start", "message_stop")
    assert refused["status"] == 403  # the session needs its CSRF token
    message_id = events[0]["data"]["assistant_message_id"]
    resumed = page.evaluate(EVENT_SOURCE, f"/api/v1/chat/messages/{message_id}/stream/?last_event_id=3")
    assert not resumed.get("failed") and not resumed.get("timeout")
    assert resumed["seen"][0]["event"] == "message_start"
    assert _text(events[:3]) + _text(resumed["seen"]) == _text(events)
    page.context.close()


def test_a_token_client_resumes_with_event_source_through_a_single_use_ticket(browser, live, alice):
    _, token = alice
    events = stream_events(live, "POST", "/api/v1/chat/messages/", token, json_body={"content": "[[emu:tokens=9]] hi"})
    message_id = events[0].data["assistant_message_id"]
    ticket = httpx.post(f"{live.url}/api/v1/chat/messages/{message_id}/stream-ticket/", headers=headers(token)).json()[
        "ticket"
    ]
    page = browser.new_page()
    page.goto(f"{live.url}/healthz")

    url = f"/api/v1/chat/messages/{message_id}/stream/?ticket={ticket}"
    first = page.evaluate(EVENT_SOURCE, url)
    again = httpx.get(f"{live.url}{url}")

    assert [e["event"] for e in first["seen"]][-1] == "message_stop"
    assert _text(first["seen"]) == "".join(e.data["text"] for e in events if e.event == "delta")
    assert again.status_code == 401  # spent
    assert again.json()["error"]["code"] == "invalid_ticket"
    page.close()


def test_a_ticket_opens_only_its_own_owners_stream(live, alice, bob):
    _, alice_token = alice
    _, bob_token = bob
    events = stream_events(live, "POST", "/api/v1/chat/messages/", alice_token, json_body={"content": "mine"})
    message_id = events[0].data["assistant_message_id"]

    foreign = httpx.post(f"{live.url}/api/v1/chat/messages/{message_id}/stream-ticket/", headers=headers(bob_token))
    forged = httpx.get(f"{live.url}/api/v1/chat/messages/{message_id}/stream/?ticket=forged")

    assert foreign.status_code == 404
    assert forged.status_code == 401


def test_a_session_client_sends_files_with_its_message(live, alice):
    user, _ = alice
    client = Client()
    client.force_login(user)
    secret = _get_new_csrf_string()
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": secret}

    with httpx.Client(base_url=live.url, timeout=30, cookies=cookies) as browser_like:
        response = browser_like.post(
            "/api/v1/chat/messages/",
            data={"content": "[[emu:tokens=3]] read this"},
            files={"files": ("notes.txt", b"plain notes for the answer", "text/plain")},
            headers={"X-CSRFToken": _mask_cipher_secret(secret), "Referer": live.url + "/"},
        )

    assert response.status_code == 200, response.text
    assert "event: message_stop" in response.text
