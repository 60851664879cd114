"""The floor: the least a Python server can do for a chat turn, to measure the product against.

A bare ASGI application (no Django, no DRF, no streaming engine) that answers `POST /` with
`{"content": ...}` and a Knox token the way the issue's "floor with the same persistence" does:

- the turn is written durably in one statement that also authenticates the token (its key,
  its SHA-512 digest as Knox stores it, its expiry, the user active), on an async psycopg pool
  on the event loop (no thread hop), while
- the model's stream is opened at once with aiobotocore (`converse_stream`, the client's own
  path), and the first `delta` is sent only once the write has returned, as the product does;
- the answer's text is written back in one more statement when the stream ends.

`GET /chats/` and `GET /chats/{id}/messages/` are the floor of the two read pages: one
statement each authenticates the token and has PostgreSQL render the page's JSON (the user's
20 latest chats; the messages of the chat's 50 deepest turns, its owner checked, without the
product's branch walk, cursors or links), which is sent as it comes.

`POST /checked` is the floor of a server that checks before it spends: one round trip first
authenticates the token and counts the user's streaming answers (the product's concurrency
check), and only then are the model's stream and the turn's write started together.

No rate limit, concurrency limit, budget, context, memory, usage ledger, event log, replay or
fault handling beyond "a refused token is a 401": everything else the product does is what its
added time is made of. Served by uvicorn (uvloop, httptools) as the product is, through
`bench.common.uvicorn_server(..., app="bench.floor_app:application")`; the table it writes
(`FLOOR_TABLE`) is created by `create_table` before the server starts.

Environment: `DATABASE_URL` (the bench database), `BEDROCK_ENDPOINT_URL` (the emulator).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from typing import Any

FLOOR_TABLE = "bench_floor_turn"
MODEL = "us.anthropic.claude-sonnet-4-6"
MAX_RUNNING = 100_000  # the bench's CHAT_MAX_CONCURRENT_GENERATIONS
TOKEN_KEY_LENGTH = 15  # knox.settings.CONSTANTS.TOKEN_KEY_LENGTH

_INSERT = f"""
INSERT INTO {FLOOR_TABLE} (id, user_id, content)
SELECT %s, t.user_id, %s FROM appauth_authtoken t JOIN appauth_appuser u ON u.id = t.user_id
WHERE t.token_key = %s AND t.digest = %s AND (t.expiry IS NULL OR t.expiry > now()) AND u.is_active
RETURNING user_id
"""  # noqa: S608 - a constant table name
_CHECK = """
SELECT t.user_id, (SELECT count(*) FROM chat_message m
                   WHERE m.user_id = t.user_id AND m.role = 'assistant' AND m.status = 'streaming')
FROM appauth_authtoken t JOIN appauth_appuser u ON u.id = t.user_id
WHERE t.token_key = %s AND t.digest = %s AND (t.expiry IS NULL OR t.expiry > now()) AND u.is_active
"""
_USER = """
WITH u AS (
    SELECT t.user_id FROM appauth_authtoken t JOIN appauth_appuser a ON a.id = t.user_id
    WHERE t.token_key = %s AND t.digest = %s AND (t.expiry IS NULL OR t.expiry > now()) AND a.is_active
)"""
_LIST = (
    _USER  # noqa: S608 - constant text
    + """
SELECT (SELECT user_id FROM u), (
    SELECT coalesce(json_agg(c), '[]')::text FROM (
        SELECT ch.id, ch.title, ch.model, ch.project_id, ch.last_message_preview, ch.created_at, ch.updated_at
        FROM chat_chat ch WHERE ch.user_id = (SELECT user_id FROM u) AND NOT ch.archived
        ORDER BY ch.updated_at DESC, ch.id DESC LIMIT 20
    ) c
)"""
)
_HISTORY = (
    _USER  # noqa: S608 - constant text
    + """, owned AS (SELECT ch.id FROM chat_chat ch WHERE ch.id = %s AND ch.user_id = (SELECT user_id FROM u))
SELECT (SELECT user_id FROM u), (SELECT id FROM owned), (
    SELECT coalesce(json_agg(m ORDER BY m.depth, m.created_at, m.id), '[]')::text FROM (
        SELECT m.id, m.pair_id, p.depth, m.role, m.status, m.text, m.model_alias, m.stop_reason,
               m.input_tokens, m.output_tokens, m.created_at, m.completed_at
        FROM (
            SELECT id, depth FROM chat_messagepair WHERE chat_id = (SELECT id FROM owned)
            ORDER BY depth DESC, created_at DESC LIMIT 50
        ) p JOIN chat_message m ON m.pair_id = p.id
    ) m
)"""
)
_FINISH = f"UPDATE {FLOOR_TABLE} SET answer = %s, finished = now() WHERE id = %s"  # noqa: S608


def create_table(dsn: str) -> None:
    """The floor's turn table (idempotent), in the bench database."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id uuid PRIMARY KEY, user_id uuid NOT NULL,"
            " content text NOT NULL, answer text, created timestamptz NOT NULL DEFAULT now(), finished timestamptz)"
        )


class _State:
    pool: Any = None
    client: Any = None
    client_context: Any = None


async def _startup() -> None:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session
    from psycopg_pool import AsyncConnectionPool

    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    _State.pool = AsyncConnectionPool(dsn, min_size=4, max_size=8, kwargs={"autocommit": True}, open=False)
    await _State.pool.open(wait=True)
    _State.client_context = get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=os.environ["BEDROCK_ENDPOINT_URL"],
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # the emulator accepts any
        config=AioConfig(max_pool_connections=2000, retries={"max_attempts": 1}),
    )
    _State.client = await _State.client_context.__aenter__()


async def _shutdown() -> None:
    if _State.client_context is not None:
        await _State.client_context.__aexit__(None, None, None)
    if _State.pool is not None:
        await _State.pool.close()


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await _startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _token_params(token: str) -> tuple[str, str]:
    """Knox's token key and digest (SHA-512 of the token) as the token table stores them."""
    return token[:TOKEN_KEY_LENGTH], hashlib.sha512(token.encode()).hexdigest()


async def _write(turn_id: uuid.UUID, token: str, content: str) -> Any:
    async with _State.pool.connection() as connection:
        cursor = await connection.execute(_INSERT, (turn_id, content, *_token_params(token)))
        row = await cursor.fetchone()
    return row[0] if row else None


async def _check(token: str) -> int:
    """200 when the token is valid and its user under the running-answers limit, else 401 or 429."""
    async with _State.pool.connection() as connection:
        cursor = await connection.execute(_CHECK, _token_params(token))
        row = await cursor.fetchone()
    if row is None:
        return 401
    return 200 if row[1] < MAX_RUNNING else 429


async def _finish(turn_id: uuid.UUID, answer: str) -> None:
    async with _State.pool.connection() as connection:
        await connection.execute(_FINISH, (answer, turn_id))


async def _read(send: Any, path: str, token: str) -> None:
    """`GET /chats/` or `GET /chats/{id}/messages/`: the page PostgreSQL renders, or 401 / 404."""
    parts = path.strip("/").split("/")
    try:
        chat_id = uuid.UUID(parts[1]) if len(parts) == 3 and parts[2] == "messages" else None
    except ValueError:
        chat_id = None
    if parts[0] != "chats" or (len(parts) > 1 and chat_id is None):
        await _refuse(send, 404)
        return
    async with _State.pool.connection() as connection:
        if chat_id is None:
            cursor = await connection.execute(_LIST, _token_params(token))
        else:
            cursor = await connection.execute(_HISTORY, (*_token_params(token), chat_id))
        row = await cursor.fetchone()
    if row[0] is None:
        await _refuse(send, 401)
        return
    if chat_id is not None and row[1] is None:
        await _refuse(send, 404)
        return
    body = row[-1].encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _refuse(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"detail": "refused"}'})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    auth = dict(scope["headers"]).get(b"authorization", b"").decode()
    if scope["method"] == "GET":
        if not auth.startswith("Token "):
            await _refuse(send, 401)
            return
        await _read(send, scope["path"], auth.removeprefix("Token "))
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    try:
        content = json.loads(body)["content"]
    except (ValueError, KeyError, TypeError):
        await _refuse(send, 400)
        return
    if not auth.startswith("Token ") or not isinstance(content, str):
        await _refuse(send, 401)
        return
    token = auth.removeprefix("Token ")
    if scope["path"] == "/checked" and (status := await _check(token)) != 200:
        await _refuse(send, status)
        return
    turn_id = uuid.uuid4()
    write = asyncio.ensure_future(_write(turn_id, token, content))
    response = await _State.client.converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": content}]}], inferenceConfig={"maxTokens": 4096}
    )
    stream = response["stream"]
    if await write is None:
        stream.close()
        await _refuse(send, 401)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": _event("start", {"id": str(turn_id)}), "more_body": True})
    parts: list[str] = []
    async for event in stream:
        delta = event.get("contentBlockDelta")
        if delta is not None:
            text = delta["delta"].get("text", "")
            parts.append(text)
            await send({"type": "http.response.body", "body": _event("delta", {"text": text}), "more_body": True})
    await _finish(turn_id, "".join(parts))
    await send({"type": "http.response.body", "body": _event("message_stop", {})})
