"""The pages: /ai/ask-ai/ (server-rendered, HTMX, streams the answer) and the widget's demo host page.

The ask page stores nothing on load (no cookie: its form is protected by the browser's
`Sec-Fetch-Site`/`Origin` headers instead of a CSRF cookie). Submitting a question:

- with HTMX (`HX-Request`), the answer area comes back holding a signed stream URL that
  `ask.js` follows with EventSource (the engine's replay: deltas appended, announced once
  finished); errors come back into the error area (`HX-Retarget`);
- without JavaScript (a plain POST), the page comes back whole once the answer is finished.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from backend import errors
from backend.api.views import error_response
from backend.db import db_sync_to_async
from backend.net import client_ip
from backend.streaming import http
from sitehelp import selectors, strings
from sitehelp.errors import ErrorCode
from sitehelp.services import limits
from sitehelp.services.generation import ask_accept, engine

STREAM_SALT = "sitehelp.ask-stream"
STREAM_URL_SECONDS = 120
LANGUAGE_CODES = ("en", "de", "fr")


def page_language(request: HttpRequest, requested: str | None = None) -> str:
    """`?lang=` / the form's `lang`, else the browser's Accept-Language, else English."""
    if requested in LANGUAGE_CODES:
        return str(requested)
    preferred = translation.get_language_from_request(request)
    return preferred[:2] if preferred[:2] in LANGUAGE_CODES else "en"


def _context(language: str, **extra: Any) -> dict[str, Any]:
    return {
        "language": language,
        "languages": [(code, name) for code, name in settings.LANGUAGES if code in LANGUAGE_CODES],
        "max_chars": settings.HELP_MAX_QUESTION_CHARS,
        "privacy_url": settings.HELP_PRIVACY_URL,
        "error_messages": {code: strings.error_message(code) for code in ErrorCode},
        **extra,
    }


def _page(request: HttpRequest, language: str, *, status: int = 200, **extra: Any) -> HttpResponse:
    with translation.override(language):
        html = render_to_string("sitehelp/ask.html", _context(language, **extra))
    return HttpResponse(html, status=status)


def _fragment(template: str, language: str, *, target: str = "", **extra: Any) -> HttpResponse:
    with translation.override(language):
        response = HttpResponse(render_to_string(template, _context(language, **extra)))
    if target:
        response["HX-Retarget"] = target
        response["HX-Reswap"] = "innerHTML"
    return response


def stream_url(message_id: UUID) -> str:
    token = signing.TimestampSigner(salt=STREAM_SALT).sign(str(message_id))
    return f"{reverse('sitehelp-ask-stream', args=[message_id])}?t={token}"


def _error_of(exc: errors.ApplicationError) -> dict[str, Any]:
    values = {**exc.details, "seconds": exc.details.get("retry_after", "")}
    return {"code": exc.code, "message": strings.error_message(exc.code, **values), "details": exc.details}


def _accept(request: HttpRequest, question: str, language: str, visitor: str) -> Any:
    ip = client_ip(request)
    return engine.admit(
        user=None, accept=lambda: ask_accept(question=question, language=language, ip=ip, visitor=visitor)
    )


async def _browser_session(request: HttpRequest) -> str:
    """The browser session's key: started by the first question (never by a page view); rate-limits the visitor."""
    if not request.session.session_key:
        await request.session.aset("sitehelp_visitor", True)
        await request.session.asave()
    return str(request.session.session_key)


async def _ask(request: HttpRequest, language: str) -> HttpResponseBase:
    is_htmx = request.headers.get("HX-Request") == "true"
    question = request.POST.get("question", "")
    try:
        limits.same_site_check(
            origin=request.headers.get("Origin", ""),
            fetch_site=request.headers.get("Sec-Fetch-Site", ""),
            host_origin=limits.host_origin_of(scheme=request.scheme or "http", host=request.get_host()),
        )
        question = limits.question_check(question)
        visitor = await _browser_session(request)
        task = asyncio.get_running_loop().create_task(
            engine.admit_and_launch(lambda: _accept(request, question, language, visitor))
        )
        admission = await asyncio.shield(task)
    except errors.ApplicationError as exc:
        error = _error_of(exc)
        inline = exc.code in (ErrorCode.QUESTION_EMPTY, ErrorCode.QUESTION_TOO_LONG)
        if is_htmx:
            if inline:
                return _fragment("sitehelp/_field_error.html", language, target="#question-error", error=error)
            return _fragment("sitehelp/_error.html", language, target="#ask-errors", error=error)
        key = "field_error" if inline else "error"
        response = _page(request, language, status=exc.status_code, question=question, **{key: error})
        for name, value in exc.headers().items():
            response[name] = value
        return response
    if is_htmx:
        return _fragment("sitehelp/_answer.html", language, stream_url=stream_url(admission.record_id))
    run = engine.running.get(admission.record_id)
    answer = run.text if run is not None else ""
    if run is not None and run.task is not None:
        await asyncio.shield(run.task)
        answer = run.text
    code = await db_sync_to_async(selectors.message_error_code)(message_id=admission.record_id)
    if code:
        error = {"code": code, "message": strings.error_message(code)}
        return _page(request, language, question=question, answer=answer, error=error)
    return _page(request, language, question=question, answer=answer)


@csrf_exempt  # protected by `limits.same_site_check` (no cookie before the visitor asks)
@require_http_methods(["GET", "POST"])
async def ask_page(request: HttpRequest) -> HttpResponseBase:
    """GET: the form; POST: ask (HTMX: the answer area; plain: the whole page with the answer)."""
    if request.method == "POST":
        language = page_language(request, request.POST.get("lang"))
        with translation.override(language):  # messages of errors are translated as they are made
            return await _ask(request, language)
    return _page(request, page_language(request, request.GET.get("lang")))


@require_GET
async def ask_stream(request: HttpRequest, message_id: UUID) -> HttpResponseBase:
    """The event stream of an ask-page answer; `?t=` is the signed capability the POST handed out."""
    try:
        signed_id = signing.TimestampSigner(salt=STREAM_SALT).unsign(
            request.GET.get("t", ""), max_age=STREAM_URL_SECONDS
        )
    except signing.BadSignature:
        signed_id = ""
    if signed_id != str(message_id):
        return error_response(errors.NotFound("No such answer."))
    return http.resume_response(engine, request, message_id)


@require_GET
def widget_demo(request: HttpRequest) -> HttpResponse:
    """A host page embedding the widget with one script tag (sets no cookie, calls nothing)."""
    language = page_language(request, request.GET.get("lang"))
    consent = request.GET.get("consent", "auto")
    with translation.override(language):
        html = render_to_string(
            "sitehelp/widget_demo.html",
            {"language": language, "consent": consent if consent in ("auto", "host", "none") else "auto"},
        )
    return HttpResponse(html)
