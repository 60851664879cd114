"""What a visitor may do before a model is called: origins, rate limits, budgets, the provider.

Every refusal is an ApplicationError with a code from `sitehelp.errors.ErrorCode`, so the page
and the widget show the same translated message for it.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from backend import errors, ratelimit
from backend.llm.models import LLMCall
from sitehelp.errors import ErrorCode

UNAVAILABLE_MESSAGE = "Help is unavailable right now. Please try again later."


def origin_allowed(*, origin: str, host_origin: str) -> bool:
    """Whether a page on `origin` may call the widget API (its own origin always may)."""
    if not origin:
        return True  # not a cross-site browser request (same-origin GET, a server, curl)
    origin = origin.rstrip("/")
    allowed = {entry.rstrip("/") for entry in settings.HELP_WIDGET_ALLOWED_ORIGINS}
    return origin == host_origin or origin in allowed


def origin_check(*, origin: str, host_origin: str) -> None:
    if not origin_allowed(origin=origin, host_origin=host_origin):
        raise errors.PermissionDenied("This site may not use the help widget.", code=ErrorCode.ORIGIN_NOT_ALLOWED)


def same_site_check(*, origin: str, fetch_site: str, host_origin: str) -> None:
    """Cross-site request forgery protection without a cookie (the ask page's form).

    Browsers send `Sec-Fetch-Site` (and `Origin`) on every POST; a form submitted from another
    site says `cross-site` and carries that site's origin. Requests without either header do not
    come from a browser page and cannot be forged by one.
    """
    if fetch_site:  # a forbidden header: no page script can set it
        if fetch_site not in ("same-origin", "none"):
            raise errors.PermissionDenied("The form was sent from another site.", code=ErrorCode.CSRF_FAILED)
        return
    if origin and origin.rstrip("/") != host_origin:  # older browsers: the Origin ("null" included)
        raise errors.PermissionDenied("The form was sent from another site.", code=ErrorCode.CSRF_FAILED)


def host_origin_of(*, scheme: str, host: str) -> str:
    parts = urlsplit(f"{scheme}://{host}")
    return f"{parts.scheme}://{parts.netloc}"


def rate_check(scope: str, identifier: str, rate: str) -> None:
    decision = ratelimit.hit(f"sitehelp_{scope}", identifier, rate)
    if not decision.allowed:
        raise errors.RateLimited(
            "Too many questions. Please wait a moment.", code=ErrorCode.RATE_LIMITED, retry_after=decision.retry_after
        )


def provider_check() -> None:
    """503 `no_provider` when no model provider is configured (no endpoint, no credentials)."""
    if not settings.BEDROCK_ENDPOINT_URL and not settings.BEDROCK_CREDENTIALS_CONFIGURED:
        raise errors.ServiceUnavailable("No AI provider is configured.", code=ErrorCode.NO_PROVIDER)


def spent_today() -> Decimal:
    """USD every help answer cost since midnight UTC (the usage ledger)."""
    midnight = timezone.now().astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    total = LLMCall.objects.filter(purpose="help", created_at__gte=midnight).aggregate(total=Sum("cost"))["total"]
    return total or Decimal(0)


def daily_cap_check() -> None:
    if spent_today() >= Decimal(str(settings.HELP_DAILY_COST_CAP_USD)):
        raise errors.ServiceUnavailable(UNAVAILABLE_MESSAGE, code=ErrorCode.DAILY_CAP_REACHED)


def session_budget_check(*, tokens_used: int) -> None:
    if tokens_used >= settings.HELP_SESSION_TOKEN_BUDGET:
        raise errors.ServiceUnavailable(UNAVAILABLE_MESSAGE, code=ErrorCode.SESSION_BUDGET_EXHAUSTED)


def question_check(question: str) -> str:
    """The question stripped; 400 when empty or longer than HELP_MAX_QUESTION_CHARS."""
    question = question.strip()
    if not question:
        raise errors.ValidationFailed("Please type a question.", code=ErrorCode.QUESTION_EMPTY)
    if len(question) > settings.HELP_MAX_QUESTION_CHARS:
        raise errors.ValidationFailed(
            f"Please keep your question under {settings.HELP_MAX_QUESTION_CHARS} characters.",
            code=ErrorCode.QUESTION_TOO_LONG,
            details={"max_chars": settings.HELP_MAX_QUESTION_CHARS},
        )
    return question
