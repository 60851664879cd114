"""EmulatorServer: the asyncio HTTP/1.1 server and its lifecycle.

One event loop serves every connection (no thread per stream), either in a
daemon thread (``start()``, for tests) or in the calling thread
(``serve_forever()``, for the CLI).  Routes::

    POST /model/{modelId}/converse          Converse (JSON)
    POST /model/{modelId}/converse-stream   ConverseStream (event stream)
    POST /model/{modelId}/count-tokens      CountTokens
    POST /v1/messages                       Anthropic Messages API (see ``anthropic_messages``)
    POST /v1/messages/count_tokens          Anthropic token counting
    POST /v1/chat/completions               OpenAI Chat Completions (see ``openai_chat``)
    *    /_emulator/...                     control API (see ``control``)

``modelId`` is percent-encoded in the path and decoded here.  The
``Authorization`` header (SigV4 or bearer) is accepted unchecked; the Messages
API requires an ``x-api-key`` (or bearer) header, unchecked too.  Credentials
are never recorded.  Any other path answers 404 with ``x-amzn-ErrorType:
UnknownOperationException``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any

from backend.llm.emulator import anthropic_messages, openai_chat
from backend.llm.emulator.control import PREFIX as CONTROL_PREFIX
from backend.llm.emulator.control import handle_control
from backend.llm.emulator.errors import ApiError
from backend.llm.emulator.httpio import (
    MAX_HEADER_BYTES,
    BadRequest,
    Request,
    error_response,
    json_response,
    new_request_id,
    plain_json_response,
    read_request,
)
from backend.llm.emulator.operations import Exchange, Operations, Wire, decode_json
from backend.llm.emulator.state import EmulatorState
from backend.llm.emulator.validation import validate_converse

logger = logging.getLogger(__name__)

_MODEL_ROUTE = re.compile(r"/model/([^/]+)/(converse|converse-stream|count-tokens)")
# Path -> operation name in the request log.
_SDK_ROUTES = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages-count-tokens",
    "/v1/chat/completions": "chat-completions",
}
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
_STARTUP_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 10.0


class EmulatorServer:
    """A protocol-faithful LLM emulator: Bedrock Converse, Anthropic Messages and OpenAI Chat Completions.

    ``min_cache_tokens`` is the smallest prefix a cachePoint caches;
    ``max_output_tokens`` the largest ``inferenceConfig.maxTokens`` accepted.
    Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        min_cache_tokens: int = 1024,
        max_output_tokens: int = 64000,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._state = EmulatorState(min_cache_tokens)
        self._max_output_tokens = max_output_tokens
        self._operations: Operations | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (resolved when started with port 0)."""
        if self._port is None:
            raise RuntimeError("The emulator is not running.")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Serve from a daemon thread; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("The emulator is already running.")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run_in_thread, name="bedrock-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_STARTUP_TIMEOUT_SECONDS):
            raise RuntimeError("The emulator did not start in time.")
        if self._startup_error is not None:
            self._thread = None
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Close the listener and cancel every open connection, stalled streams included."""
        loop, stop_event, thread = self._loop, self._stop_event, self._thread
        if loop is None or stop_event is None or thread is None:
            return
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(_STOP_TIMEOUT_SECONDS)
        self._thread = None

    def serve_forever(self, on_listening: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until Ctrl-C; ``on_listening(url)`` once bound."""
        try:
            asyncio.run(self._serve(on_listening))
        except KeyboardInterrupt:
            logger.info("Bedrock emulator stopped.")

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run_in_thread(self) -> None:
        try:
            asyncio.run(self._serve(None))
        except BaseException as exc:
            if self._ready.is_set():
                logger.exception("The Bedrock emulator crashed.")
            else:  # reported by start()
                self._startup_error = exc
                self._ready.set()

    async def _serve(self, on_listening: Callable[[str], None] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._operations = Operations(self._state, self._max_output_tokens)
        server = await asyncio.start_server(
            self._handle_connection,
            self.host,
            self._requested_port,
            limit=MAX_HEADER_BYTES,
            backlog=4096,
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        if on_listening is not None:
            on_listening(self.url)
        try:
            await self._stop_event.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            self._port = None
            self._loop = None

    # -- state shortcuts (same effect as the control API) ------------------

    def reset(self) -> None:
        """Clear rules, throttles, recorded requests and the prompt cache."""
        self._state.reset()

    def add_rule(self, rule: dict[str, Any]) -> str:
        """Register a control-API rule (see ``state.parse_rule``); returns its id."""
        return self._state.add_rule(rule)

    def throttle(self, model: str, seconds: float) -> None:
        """Make models whose id contains ``model`` answer ThrottlingException for ``seconds``."""
        self._state.throttle(model, seconds)

    def requests(self) -> list[dict[str, Any]]:
        """The recorded model requests, oldest first."""
        return self._state.requests()

    # -- connections -------------------------------------------------------

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await read_request(reader, writer)
                if request is None or not await self._dispatch(request, reader, writer):
                    break
                if not request.keep_alive:
                    break
        except BadRequest as exc:
            body = {"message": str(exc)}
            writer.write(json_response(exc.status, body, request_id=new_request_id(), close=True))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request or mid-response
        except asyncio.CancelledError:
            # Only stop() cancels connections.  Abort rather than close so that
            # slow clients are not waited for, and end the task normally: on
            # Python 3.11 asyncio's stream callback calls task.exception() on
            # the finished task, which raises (and logs) for a cancelled one.
            writer.transport.abort()
        finally:
            self._connections.discard(task)
            writer.close()

    async def _dispatch(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False if the connection must be closed afterwards."""
        close = not request.keep_alive
        if request.path.startswith(CONTROL_PREFIX):
            status, body = handle_control(self._state, request.method, request.path, request.body)
            writer.write(json_response(status, body, request_id=new_request_id(), close=close))
            await writer.drain()
            return True
        sdk_operation = _SDK_ROUTES.get(request.path.rstrip("/"))
        if sdk_operation is not None and request.method == "POST":
            return await self._dispatch_sdk(sdk_operation, request, reader, writer)
        route = _MODEL_ROUTE.fullmatch(request.path)
        request_id = new_request_id()
        if route is None or request.method != "POST":
            writer.write(_unknown_operation(request, request_id, close))
            await writer.drain()
            return True
        model_id, operation = urllib.parse.unquote(route.group(1)), route.group(2)
        logger.debug("%s %s request_id=%s", operation, model_id, request_id)
        try:
            body = decode_json(request.body)
        except ApiError as error:
            self._record(operation, model_id, request, request.body.decode("utf-8", "replace"))
            return await _send_error(writer, error, request_id, close)
        self._record(operation, model_id, request, body)
        assert self._operations is not None  # set while serving
        try:
            if operation == "count-tokens":
                answer = self._operations.count_tokens(model_id, body)
                writer.write(json_response(200, answer, request_id=request_id, close=close))
                await writer.drain()
                return True
            exchange = Exchange(reader, writer, request_id, asyncio.get_running_loop().time(), close)
            streaming = operation == "converse-stream"
            return await self._operations.converse(exchange, model_id, body, stream=streaming)
        except ApiError as error:
            return await _send_error(writer, error, request_id, close)

    async def _dispatch_sdk(
        self, operation: str, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer a Messages API or Chat Completions request (errors in that protocol's shape)."""
        anthropic = operation != "chat-completions"
        protocol: Any = anthropic_messages if anthropic else openai_chat
        request_id = protocol.new_request_id()
        close = not request.keep_alive
        body: Any = request.body.decode("utf-8", "replace")
        model_id, converse = "", None
        try:
            body = decode_json(request.body)
            if anthropic and not (request.headers.get("x-api-key") or request.headers.get("authorization")):
                raise ApiError("UnrecognizedClientException", "x-api-key header is required")
            model_id = protocol.model_of(body)
            if anthropic:
                converse = anthropic_messages.to_converse(body, count_only=operation == "messages-count-tokens")
            else:
                converse = openai_chat.to_converse(body)
            self._record(operation, model_id, request, body, converse)
            assert self._operations is not None  # set while serving
            if operation == "messages-count-tokens":
                request_body = validate_converse(converse, model_id, self._max_output_tokens)
                answer = {"input_tokens": self._operations.count_converse(model_id, request_body)}
                writer.write(plain_json_response(200, answer, (("request-id", request_id),), close=close))
                await writer.drain()
                return True
            wire: Wire
            if anthropic:
                wire = anthropic_messages.AnthropicWire(model_id, request_id)
            else:
                wire = openai_chat.OpenAIWire(model_id, request_id, include_usage=openai_chat.wants_usage(body))
            exchange = Exchange(reader, writer, request_id, asyncio.get_running_loop().time(), close)
            return await self._operations.generate(
                exchange, model_id, converse, wire, stream=body.get("stream") is True
            )
        except ApiError as error:
            if converse is None:
                self._record(operation, model_id, request, body, None)
            writer.write(protocol.error_response(error, request_id=request_id, close=close))
            await writer.drain()
            return True

    def _record(self, operation: str, model_id: str, request: Request, body: Any, converse: Any = None) -> None:
        headers = {k: v for k, v in request.headers.items() if k not in _CREDENTIAL_HEADERS}
        entry = {"operation": operation, "model_id": model_id, "body": body, "headers": headers}
        if converse is not None:
            entry["converse"] = converse  # the Converse-shaped translation the answer was derived from
        self._state.record({**entry, "time": time.time()})


async def _send_error(writer: asyncio.StreamWriter, error: ApiError, request_id: str, close: bool) -> bool:
    writer.write(error_response(error, request_id=request_id, close=close))
    await writer.drain()
    return True


def _unknown_operation(request: Request, request_id: str, close: bool) -> bytes:
    error_type = ("x-amzn-ErrorType", "UnknownOperationException")
    body = {"message": f"Unknown operation {request.method} {request.path}."}
    return json_response(404, body, request_id=request_id, extra_headers=(error_type,), close=close)
