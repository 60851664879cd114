"""The HTTP side of streaming: async Django views that behave like the rest of the DRF API.

Streaming responses must come from `async def` views (a sync iterator is buffered whole under
ASGI), which DRF's APIView cannot be. These helpers give such views the API's behaviour:

- `authenticate(request)`: the user through DRF's authentication classes (Knox token, or
  session with CSRF enforced by SessionAuthentication);
- `documented("POST", **extend_schema_arguments)`: refuses other methods and renders
  application errors in the API's error shape; attaches a documentation-only APIView as `.cls`,
  so drf-spectacular lists the async view with its request and response shapes;
- `json_body(request)`: the JSON object body, or a 400/415 in the error shape;
- `start_response(engine, admit)`: admit and launch a generation (shielded from the client
  going away) and answer with its event stream;
- `resume_response(engine, request, record_id)`: the event stream after `Last-Event-ID`;
- `stream_user(request, ...)`: the reader of a stream: a `?ticket=` (`backend.streaming.tickets`,
  for `EventSource`) or the authenticated user;
- `stop_response(engine, record)`: stop a generation and say where it stands.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from backend import errors
from backend.api.exception_handler import translate
from backend.api.parsers import MAX_JSON_DEPTH, JSONParser, json_depth_exceeds
from backend.api.request import request_user
from backend.api.views import error_response
from backend.db import GuardFailed, SqlGuard, db_sync_to_async, guard_holds
from backend.streaming import replay
from backend.streaming.sse import SSE_HEADERS, parse_last_event_id
from backend.streaming.tickets import ticket_issue, ticket_redeem

if TYPE_CHECKING:
    from django.contrib.auth.models import _User  # the user model, without importing its app

    from backend.streaming.engine import Admission, Engine

logger = logging.getLogger(__name__)

ViewFunction = Callable[..., Coroutine[Any, Any, HttpResponseBase]]

IDEMPOTENCY_KEY_MAX = 128
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def authenticate(request: HttpRequest) -> _User:
    """The authenticated user (sync: call on a database thread); raises NotAuthenticated."""
    user = authenticated_request(request).user
    assert isinstance(user, get_user_model())
    return user


def authenticated_request(request: HttpRequest) -> Request:
    """`request` as DRF's, authenticated by the API's classes (sync); raises NotAuthenticated.

    Its `auth` is what authenticated it (the token row for a token client). A session (cookie)
    client's CSRF check reads the form fields of the body, so the DRF request gets the API's
    parsers; a JSON body is read into memory first so the view can still read it.
    """
    if request.method == "POST" and not (request.content_type or "").startswith(_FORM_TYPES):
        request.body  # noqa: B018 - cache the body before DRF reads the stream
    authenticators = [cls() for cls in list[Any](api_settings.DEFAULT_AUTHENTICATION_CLASSES)]
    # The streaming POSTs take JSON, and multipart where they accept files.
    parsers = [JSONParser(), FormParser(), MultiPartParser()]
    drf_request = Request(request, parsers=parsers, authenticators=authenticators)
    user = drf_request.user
    if not isinstance(user, get_user_model()) or not user.is_authenticated:
        raise errors.NotAuthenticated()
    return drf_request


def admitted(request: HttpRequest, admit: Callable[[_User, SqlGuard | None], Admission]) -> Admission:
    """`admit(user, guard)` for the request's user (sync: call on a database thread).

    A token client's JSON request (or one without a body) and without an Idempotency-Key is
    admitted on the pair this process verified lately (the first authentication class's
    `memoized_request`), with no cache round trip and no DRF authentication: `admit` passes the
    guard to `Engine.admit`, whose first statement checks it (the token row still there, its
    user active). When it fails (the token was revoked, its user deactivated, in any process)
    the memo is dropped and the request is authenticated in full: a 401. An error raised
    before the guard was checked (a malformed body, say) is answered only if the guard holds,
    so a revoked token learns nothing but its 401. Every other request is authenticated in
    full, and a verified token is remembered for the next one.
    """
    authenticator = memo_authenticator()
    memo = authenticator.memoized_request(request) if authenticator is not None and _memo_eligible(request) else None
    if authenticator is not None and memo is not None:
        user, guard = memo
        try:
            return admit(user, guard)
        except GuardFailed:
            pass
        except (errors.ApplicationError, drf_exceptions.APIException):
            if guard_holds(guard):
                raise
        authenticator.forget_request(request)
    user = remembered_request(request).user
    assert isinstance(user, get_user_model())
    return admit(user, None)


def remembered_request(request: HttpRequest) -> Request:
    """`authenticated_request`, and the token that authenticated it remembered for the next one."""
    drf_request = authenticated_request(request)
    remember = getattr(drf_request.successful_authenticator, "remember", None)
    if remember is not None and drf_request.auth is not None:
        remember(drf_request.user, drf_request.auth)
    return drf_request


def memo_authenticator() -> Any | None:
    """The first authentication class when it keeps a memo of verified tokens (`memoized_request`).

    Only then may a request be trusted from the memo: DRF tries the classes in their order.
    """
    classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    return classes[0]() if classes and hasattr(classes[0], "memoized_request") else None


def _memo_eligible(request: HttpRequest) -> bool:
    """No Idempotency-Key (a replay is read before any count), and a JSON body or no content type.

    Never a form or upload: its files would be stored before the guard is checked, and its body
    must not be read whole here (Django streams a multipart body to its parser).
    """
    if request.headers.get("Idempotency-Key"):
        return False
    return (request.content_type or "") in ("application/json", "")


def stream_user(request: HttpRequest, *, scope: str, record_id: UUID) -> _User:
    """Who may read a stream: the `?ticket=` holder (EventSource), else the authenticated user (sync)."""
    ticket = request.GET.get("ticket")
    if not ticket:
        return authenticate(request)
    user_id = ticket_redeem(ticket=ticket, scope=scope, record_id=record_id)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise errors.NotAuthenticated(
            "The stream ticket is invalid, expired or already used.", code=errors.ErrorCode.INVALID_TICKET
        )
    return user


def ticket_data(*, user: _User, scope: str, record_id: UUID) -> dict[str, Any]:
    """The body of a stream-ticket response."""
    return {
        "ticket": ticket_issue(user_id=user.pk, scope=scope, record_id=record_id),
        "expires_in": settings.STREAM_TICKET_SECONDS,
    }


def api_error(exc: Exception) -> HttpResponse:
    """An application or DRF exception as the API's error response (anything else re-raised)."""
    error = translate(exc)
    if error is None:
        raise exc
    response = error_response(error)
    if isinstance(exc, (errors.NotAuthenticated, drf_exceptions.NotAuthenticated)):
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def documented(
    *methods: str, doc: type[APIView] | None = None, **schema: Any
) -> Callable[[ViewFunction], ViewFunction]:
    """Mark an async view for the OpenAPI schema and refuse other methods in the error shape.

    `schema` are drf-spectacular's `extend_schema` arguments for the one method given; a view
    that answers several methods passes `doc`, an APIView whose methods carry their schemas.
    Either way the view gets a documentation-only APIView as `.cls` (never dispatched), which
    is how drf-spectacular lists a function view.
    """
    if doc is None:
        if len(methods) != 1:
            raise TypeError("documented(): one method with schema arguments, or several with `doc`")

        def undispatched(self: APIView, request: Request, *args: Any, **kwargs: Any) -> None:  # pragma: no cover
            raise NotImplementedError("documentation only: the async view serves the request")

        doc = type("StreamingDoc", (APIView,), {methods[0].lower(): extend_schema(**schema)(undispatched)})
    doc_view = doc

    def decorate(view: ViewFunction) -> ViewFunction:
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = error_response(errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'))
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return await view(request, *args, **kwargs)
            except (errors.ApplicationError, drf_exceptions.APIException) as exc:
                return api_error(exc)

        wrapper.cls = doc_view  # type: ignore[attr-defined]
        # Served without Django's per-request thread (`backend.streaming.asgi`): the view is
        # async and does its database work on the database threads.
        wrapper.asgi_fast_path = True  # type: ignore[attr-defined]
        wrapper.initkwargs = {}  # type: ignore[attr-defined]
        wrapper.__name__ = view.__name__
        wrapper.__doc__ = view.__doc__
        return csrf_exempt(wrapper)

    return decorate


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object body, parsed as the API's JSON parser does (nesting-limited); 400 otherwise."""
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise errors.MalformedRequest("The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise errors.MalformedRequest("The body must be a JSON object.")
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise errors.MalformedRequest(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.")
    return body


def json_body(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object (`{}` for an empty body when `optional`)."""
    if optional and not request.body:
        return {}
    if (request.content_type or "") != "application/json":
        raise errors.UnsupportedMediaType("Send application/json.")
    return json_object(request.body)


def idempotency_key(request: HttpRequest) -> str | None:
    """The request's `Idempotency-Key` header (None when absent); 400 when it is too long."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise errors.ValidationFailed(
            f"Idempotency-Key is longer than {IDEMPOTENCY_KEY_MAX} characters.",
            code=errors.ErrorCode.INVALID_IDEMPOTENCY_KEY,
        )
    return key or None


def json_response(data: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


def sse_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


def _consume(task: asyncio.Task[Any]) -> None:
    """Log a shielded admission's failure that nobody awaits any more (its client left).

    A refusal (an application or DRF error, a 4xx) is not a failure.
    """
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        if not isinstance(exc, (errors.ApplicationError, drf_exceptions.APIException)):
            logger.error("admission failed after its client left", exc_info=exc)


async def start_response(engine: Engine, admit: Callable[[], Admission]) -> StreamingHttpResponse:
    """Admit and launch a generation, then stream it; a client that leaves cannot undo either.

    While the client waits, the admission's outcome is its response (a refusal in the error
    shape, a failure as Django answers one); once it has left, a failure is logged here.
    """
    task = asyncio.get_running_loop().create_task(engine.admit_and_launch(admit))
    try:
        admission = await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_consume)
        raise
    return sse_response(replay.events(engine, admission.record_id))


def last_event_id(request: HttpRequest) -> int:
    return parse_last_event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))


def resume_response(engine: Engine, request: HttpRequest, record_id: UUID) -> StreamingHttpResponse:
    return sse_response(replay.events(engine, record_id, after=last_event_id(request)))


async def stop_response(engine: Engine, record: Any) -> HttpResponse:
    """200 with the terminal status when the generation has ended; 202 while another process stops it."""
    if record.is_terminal:
        return json_response({"status": record.status, "text": getattr(record, engine.adapter.text_field)})
    if await engine.stop(record.id):
        record = await db_sync_to_async(engine.adapter.record_model.objects.get)(id=record.id)
        return json_response({"status": record.status, "text": getattr(record, engine.adapter.text_field)})
    return json_response({"status": "stopping"}, status=202)


class StreamTicketApi(APIView):
    """`POST …/stream-ticket/`: a single-use ticket for EventSource. Subclasses find the owned record."""

    engine: Engine

    def owned_record(self, request: Request, **kwargs: Any) -> Any:
        """The record named in the URL, owned by `request.user`; raises NotFound otherwise."""
        raise NotImplementedError

    def post(self, request: Request, **kwargs: Any) -> Response:
        record = self.owned_record(request, **kwargs)
        return Response(ticket_data(user=request_user(request), scope=self.engine.scope, record_id=record.id))
