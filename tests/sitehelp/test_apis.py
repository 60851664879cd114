"""The widget API's contract: tokens, origins, limits, feedback, export and erasure, in the error shape."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from backend.llm.models import LLMCall
from sitehelp import apis
from sitehelp.models import HelpFeedback, HelpMessage, HelpSession
from tests.helpers import assert_error
from tests.sitehelp.factories import API, make_feedback, make_message, make_visitor

pytestmark = pytest.mark.django_db
# The messages endpoint is an async view: its database work runs on other connections, which see
# only committed rows.
ASYNC_VIEW = pytest.mark.django_db(transaction=True)


# --- Sessions ------------------------------------------------------------------------------------


def test_a_session_starts_with_a_signed_expiring_token_and_sets_no_cookie(api):
    response = api.post(f"{API}/sessions/", {"language": "de", "consent_mode": "host"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"session_id", "token", "expires_at", "idle_timeout"}
    session = HelpSession.objects.get(id=body["session_id"])
    assert (session.language, session.consent_mode) == ("de", "host")
    assert body["token"].startswith(str(session.id))
    assert body["idle_timeout"] == 1800
    assert not response.cookies


def test_an_unknown_language_is_refused(api):
    response = api.post(f"{API}/sessions/", {"language": "xx"}, format="json")

    assert_error(response, 400, "invalid")


@override_settings(HELP_RATE_SESSION_IP="2/h")
def test_new_sessions_are_rate_limited_per_address_with_the_wait(api):
    for _ in range(2):
        assert api.post(f"{API}/sessions/", {}, format="json").status_code == 201

    response = api.post(f"{API}/sessions/", {}, format="json")

    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["details"]["retry_after"] == int(response["Retry-After"])


# --- Tokens ------------------------------------------------------------------------------------------


def test_a_session_id_without_its_token_gets_nothing(api, visitor):
    make_message(visitor.session)

    response = api.get(f"{API}/sessions/{visitor.session.id}/messages/")

    assert_error(response, 401, "session_token_missing")


@pytest.mark.parametrize("token", ["garbage", "x" * 40, ":".join(["a", "b", "c"])])
def test_a_forged_token_is_refused(api, visitor, token):
    response = api.get(f"{API}/sessions/{visitor.session.id}/export/", HTTP_X_HELP_SESSION=token)

    assert_error(response, 401, "invalid_session_token")


@ASYNC_VIEW
def test_another_sessions_token_finds_nothing(api, visitor):
    other = make_visitor()

    for method, path in [
        ("get", "messages/"),
        ("get", "export/"),
        ("delete", ""),
        ("post", "feedback/"),
    ]:
        response = getattr(api, method)(f"{API}/sessions/{visitor.session.id}/{path}", **other.headers)
        assert_error(response, 404, "not_found")
    assert HelpSession.objects.filter(id=visitor.session.id).exists()


def test_a_token_older_than_the_maximum_age_is_refused(api, visitor):
    with override_settings(HELP_SESSION_MAX_AGE_SECONDS=-1):
        response = api.get(f"{API}/sessions/{visitor.session.id}/messages/", **visitor.headers)

    assert_error(response, 401, "invalid_session_token")


@ASYNC_VIEW
def test_an_idle_session_refuses_new_messages_but_still_exports_and_erases(api, visitor):
    HelpSession.objects.filter(id=visitor.session.id).update(last_activity_at=timezone.now() - timedelta(minutes=31))

    sent = api.post(
        f"{API}/sessions/{visitor.session.id}/messages/", {"content": "Hello?"}, format="json", **visitor.headers
    )
    exported = api.get(f"{API}/sessions/{visitor.session.id}/export/", **visitor.headers)

    assert_error(sent, 401, "session_expired")
    assert exported.status_code == 200
    assert api.delete(f"{API}/sessions/{visitor.session.id}/", **visitor.headers).status_code == 204


# --- Origins and CORS ------------------------------------------------------------------------------------


@override_settings(HELP_WIDGET_ALLOWED_ORIGINS=["https://shop.example"])
def test_only_allowed_origins_may_call_and_get_cors_headers(api, visitor):
    allowed = api.get(
        f"{API}/sessions/{visitor.session.id}/export/", HTTP_ORIGIN="https://shop.example", **visitor.headers
    )
    refused = api.get(
        f"{API}/sessions/{visitor.session.id}/export/", HTTP_ORIGIN="https://evil.example", **visitor.headers
    )
    created = api.post(f"{API}/sessions/", {}, format="json", HTTP_ORIGIN="https://evil.example")

    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert_error(refused, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in refused
    assert created.status_code == 403
    assert not HelpSession.objects.exclude(id=visitor.session.id).exists()


@override_settings(HELP_WIDGET_ALLOWED_ORIGINS=["https://shop.example"])
def test_a_preflight_allows_the_session_header_for_allowed_origins_only(api):
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-help-session"}

    allowed = api.options(f"{API}/sessions/", HTTP_ORIGIN="https://shop.example", **preflight)
    elsewhere = api.options("/api/v1/chat/chats/", HTTP_ORIGIN="https://shop.example", **preflight)

    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "x-help-session" in allowed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in elsewhere


def test_the_apps_own_origin_is_always_allowed(api):
    response = api.post(f"{API}/sessions/", {}, format="json", HTTP_ORIGIN="http://testserver")

    assert response.status_code == 201


# --- Limits before the model is called ----------------------------------------------------------------


def _send(api, visitor, content="How do I sign in?"):
    return api.post(
        f"{API}/sessions/{visitor.session.id}/messages/", {"content": content}, format="json", **visitor.headers
    )


@ASYNC_VIEW
def test_one_message_in_flight_per_session(api, visitor):
    make_message(visitor.session, status=HelpMessage.Status.STREAMING, answer="")

    response = _send(api, visitor)

    assert_error(response, 409, "turn_in_progress")
    assert HelpMessage.objects.filter(session=visitor.session).count() == 1


@ASYNC_VIEW
@override_settings(HELP_SESSION_TOKEN_BUDGET=150)
def test_a_session_that_spent_its_token_budget_is_told_help_is_unavailable(api, visitor):
    make_message(visitor.session)  # 100 + 50 tokens

    response = _send(api, visitor)

    assert_error(response, 503, "session_budget_exhausted")
    assert response.json()["error"]["message"] == "Help is unavailable right now. Please try again later."


@ASYNC_VIEW
@override_settings(HELP_DAILY_COST_CAP_USD=0.5)
def test_the_daily_cost_cap_stops_every_session(api, visitor):
    LLMCall.objects.create(purpose="help", model_id="m", alias="help", cost=Decimal("0.5"))
    LLMCall.objects.create(purpose="chat", model_id="m", alias="chat-default", cost=Decimal("99"))

    response = _send(api, visitor)

    assert_error(response, 503, "daily_cap_reached")


def test_yesterdays_spending_does_not_count_toward_the_cap(api, visitor):
    call = LLMCall.objects.create(purpose="help", model_id="m", alias="help", cost=Decimal("100"))
    LLMCall.objects.filter(id=call.id).update(created_at=timezone.now() - timedelta(days=1, hours=1))

    with override_settings(HELP_DAILY_COST_CAP_USD=1.0):
        from sitehelp.services.limits import spent_today

        assert spent_today() == Decimal(0)


@ASYNC_VIEW
@override_settings(BEDROCK_ENDPOINT_URL=None, BEDROCK_CREDENTIALS_CONFIGURED=False)
def test_no_configured_provider_is_a_503_with_its_code(api, visitor):
    response = _send(api, visitor)

    assert_error(response, 503, "no_provider")


@ASYNC_VIEW
@pytest.mark.parametrize(("content", "code"), [("   ", "question_empty"), ("x" * 1001, "invalid")])
def test_empty_and_overlong_questions_are_refused(api, visitor, content, code):
    response = _send(api, visitor, content)

    assert_error(response, 400, code)
    assert not HelpMessage.objects.exists()


@ASYNC_VIEW
def test_a_body_that_is_not_json_is_a_400(api, visitor):
    response = api.post(
        f"{API}/sessions/{visitor.session.id}/messages/", "{nope", content_type="application/json", **visitor.headers
    )

    assert_error(response, 400, "malformed_request")


# --- History, feedback, export, erasure ------------------------------------------------------------------


@ASYNC_VIEW
def test_the_history_lists_the_sessions_messages_oldest_first(api, visitor):
    first = make_message(visitor.session, question="first")
    second = make_message(visitor.session, question="second")
    make_feedback(second, rating=-1, comment="too vague")
    make_message(make_visitor().session, question="someone else's")

    response = api.get(f"{API}/sessions/{visitor.session.id}/messages/", **visitor.headers)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [m["id"] for m in results] == [str(first.id), str(second.id)]
    assert results[1]["feedback"] == {"rating": -1, "comment": "too vague"}


@pytest.mark.parametrize("count", [1, 15])
def test_a_history_page_costs_two_queries_whatever_its_length(rf, visitor, django_assert_num_queries, count):
    for index in range(count):
        make_feedback(make_message(visitor.session, question=f"q{index}"))
    request = rf.get(f"{API}/sessions/{visitor.session.id}/messages/", HTTP_X_HELP_SESSION=visitor.token)

    with django_assert_num_queries(2):
        response = apis._message_page(request, visitor.session.id)

    assert len(json.loads(response.content)["results"]) == count


def test_feedback_rates_an_answer_and_a_second_rating_replaces_it(api, visitor):
    message = make_message(visitor.session)
    url = f"{API}/sessions/{visitor.session.id}/feedback/"

    first = api.post(url, {"message_id": str(message.id), "rating": 1}, format="json", **visitor.headers)
    second = api.post(
        url, {"message_id": str(message.id), "rating": -1, "comment": "wrong page"}, format="json", **visitor.headers
    )

    assert first.status_code == 200
    assert second.json() == {"message_id": str(message.id), "rating": -1, "comment": "wrong page"}
    assert HelpFeedback.objects.get().rating == -1


@pytest.mark.parametrize("rating", [0, 2, "up"])
def test_feedback_ratings_are_plus_or_minus_one(api, visitor, rating):
    message = make_message(visitor.session)

    response = api.post(
        f"{API}/sessions/{visitor.session.id}/feedback/",
        {"message_id": str(message.id), "rating": rating},
        format="json",
        **visitor.headers,
    )

    assert response.status_code == 400


def test_feedback_on_a_streaming_answer_is_a_conflict(api, visitor):
    message = make_message(visitor.session, status=HelpMessage.Status.STREAMING)

    response = api.post(
        f"{API}/sessions/{visitor.session.id}/feedback/",
        {"message_id": str(message.id), "rating": 1},
        format="json",
        **visitor.headers,
    )

    assert_error(response, 409, "answer_not_finished")


@override_settings(HELP_FEEDBACK_ENABLED=False)
def test_feedback_switched_off_is_a_404(api, visitor):
    message = make_message(visitor.session)

    response = api.post(
        f"{API}/sessions/{visitor.session.id}/feedback/",
        {"message_id": str(message.id), "rating": 1},
        format="json",
        **visitor.headers,
    )

    assert_error(response, 404, "feedback_disabled")
    assert not HelpFeedback.objects.exists()


def test_the_export_holds_the_visitors_own_data_only(api, visitor):
    message = make_message(visitor.session, question="Where is my invoice?")
    make_feedback(message, rating=1, comment="thanks")
    make_message(make_visitor().session, question="not yours")

    response = api.get(f"{API}/sessions/{visitor.session.id}/export/", **visitor.headers)

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = response.json()
    assert body["session"]["id"] == str(visitor.session.id)
    assert [(m["question"], m["feedback"]) for m in body["messages"]] == [
        ("Where is my invoice?", {"rating": 1, "comment": "thanks"})
    ]


def test_delete_erases_the_session_its_messages_and_feedback_now(api, visitor):
    make_feedback(make_message(visitor.session))
    kept = make_message(make_visitor().session)

    response = api.delete(f"{API}/sessions/{visitor.session.id}/", **visitor.headers)
    again = api.get(f"{API}/sessions/{visitor.session.id}/export/", **visitor.headers)

    assert response.status_code == 204
    assert not HelpSession.objects.filter(id=visitor.session.id).exists()
    assert list(HelpMessage.objects.all()) == [kept]
    assert not HelpFeedback.objects.exists()
    assert again.status_code == 404


# --- The widget's catalogue --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "send", "expired"),
    [
        ("en", "Send", "Your conversation expired."),
        ("de", "Senden", "Ihre Unterhaltung ist abgelaufen."),
        ("fr", "Envoyer", "Votre conversation a expiré."),
    ],
)
def test_the_catalogue_serves_the_widgets_strings_translated(api, language, send, expired):
    response = api.get(f"{API}/i18n/{language}/")

    assert response.status_code == 200
    body = response.json()
    assert body["language"] == language
    assert body["strings"]["send"] == send
    assert body["error_texts"]["session_expired"] == expired
    assert body["feedback_enabled"] is True
    assert not response.cookies


def test_an_unknown_catalogue_language_is_a_404(api):
    assert api.get(f"{API}/i18n/xx/").status_code == 404
