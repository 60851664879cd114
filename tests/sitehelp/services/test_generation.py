"""The help adapter: model failures become the help error codes; the ask page keeps no answer."""

from __future__ import annotations

import pytest

from backend.llm.errors import FailureKind, LLMError
from backend.streaming.engine import Outcome
from sitehelp.errors import ErrorCode
from sitehelp.models import HelpMessage, HelpSession
from sitehelp.services.generation import HelpAdapter, engine, failure_code
from tests.sitehelp.factories import make_message, make_visitor


@pytest.mark.parametrize(
    ("kind", "provider_code", "code"),
    [
        (FailureKind.CLIENT_ERROR, "no_credentials", ErrorCode.NO_PROVIDER),
        (FailureKind.CLIENT_ERROR, "UnrecognizedClientException", ErrorCode.AUTH_FAILED),
        (FailureKind.CLIENT_ERROR, "AccessDeniedException", ErrorCode.AUTH_FAILED),
        (FailureKind.THROTTLED, "ThrottlingException", ErrorCode.THROTTLED),
        (FailureKind.TIMEOUT, "read_timeout", ErrorCode.TIMEOUT),
        (FailureKind.UNAVAILABLE, "ServiceUnavailableException", ErrorCode.ERROR),
        (FailureKind.CLIENT_ERROR, "ValidationException", ErrorCode.ERROR),
    ],
)
def test_model_failures_map_to_the_help_codes(kind, provider_code, code):
    assert failure_code(LLMError(kind, provider_code=provider_code)) == code


def test_anonymous_owners_hold_no_engine_slot():
    adapter = HelpAdapter()

    assert adapter.max_concurrent() == 1
    assert adapter.running(user=None).query.is_empty()


@pytest.mark.django_db
def test_an_ask_page_answer_is_blanked_when_it_ends_and_a_widget_answer_is_kept():
    page = make_message(None, status=HelpMessage.Status.STREAMING, answer="")
    visitor = make_visitor()
    widget = make_message(visitor.session, status=HelpMessage.Status.STREAMING, answer="")

    for record in (page, widget):
        engine.finish(record_id=record.id, outcome=Outcome(status="complete", stop_reason="end_turn"), text="Answer")

    assert HelpMessage.objects.get(id=page.id).answer == ""
    assert HelpMessage.objects.get(id=widget.id).answer == "Answer"
    assert HelpSession.objects.get(id=visitor.session.id).last_activity_at >= visitor.session.last_activity_at


def test_answers_come_from_the_help_alias_on_the_fast_chain_by_default(settings):
    assert settings.LLM_ALIASES["help"]["chain"] == settings.LLM_ALIASES["fast"]["chain"]
    assert settings.LLM_ALIASES["help"]["selectable"] is False
