"""The REST side of the assistant's API: staff only, owner-scoped, the key never shown."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from adminassistant.models import AssistantSettings, Chat, Message
from adminassistant.services import config
from tests.adminassistant.helpers import make_staff
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

API = "/ai-assistant/api"
SECRET = "sk-test-0123456789abcdefWXYZ"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def staff():
    return make_staff("staff@example.com", superuser=False)


def test_chats_are_created_and_listed_for_their_owner_only(staff):
    other = make_staff("other@example.com", superuser=False)
    client = client_for(staff)
    created = client.post(f"{API}/chats", {"title": "Signups"}, format="json")
    assert created.status_code == 201
    client_for(other).post(f"{API}/chats", {}, format="json")
    listed = client.get(f"{API}/chats").json()
    assert [c["title"] for c in listed["results"]] == ["Signups"]
    assert set(listed) == {"next", "previous", "results"}
    response = client_for(other).get(f"{API}/chats/{created.json()['id']}")
    assert_error(response, 404, "chat_not_found")


def test_chat_history_pages_oldest_first(staff):
    chat = Chat.objects.create(user=staff)
    for i in range(3):
        Message.objects.create(chat=chat, role="user", content=f"q{i}")
    body = client_for(staff).get(f"{API}/chats/{chat.id}?page_size=2").json()
    assert body["chat"]["id"] == str(chat.id)
    assert [m["content"] for m in body["messages"]["results"]] == ["q0", "q1"]
    assert body["messages"]["next"]
    rest = client_for(staff).get(body["messages"]["next"]).json()
    assert [m["content"] for m in rest["messages"]["results"]] == ["q2"]


def test_staff_who_must_use_two_factor_sign_in_are_refused_until_they_enrol(staff, settings):
    settings.AUTH_MFA_REQUIRED_FOR_STAFF = True

    assert_error(client_for(staff).get(f"{API}/chats"), 403, "mfa_enrollment_required")
    settings.AUTH_MFA_REQUIRED_FOR_STAFF = False
    assert client_for(staff).get(f"{API}/chats").status_code == 200


@pytest.mark.parametrize("kind", ["anonymous", "member", "inactive"])
def test_only_active_staff_may_use_the_api(kind):
    if kind == "anonymous":
        client, expected = APIClient(), 401
    else:
        user = make_staff(f"{kind}@example.com", superuser=False)
        user.is_staff = kind != "member"
        user.is_active = kind != "inactive"
        user.save()
        client, expected = client_for(user), 403
    for method, path in [
        ("get", "/chats"),
        ("post", "/chats"),
        ("get", "/settings/check"),
        ("get", "/chats/00000000-0000-0000-0000-000000000000"),
        ("get", "/results/00000000-0000-0000-0000-000000000000/csv"),
    ]:
        response = getattr(client, method)(f"{API}{path}")
        assert response.status_code == expected, path
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_settings_check_says_what_is_missing_and_never_returns_the_key(staff, caplog):
    caplog.set_level(logging.DEBUG)
    row = config.settings_get()
    row.provider = AssistantSettings.Provider.ANTHROPIC
    row.model_alias = "no-such-alias"
    row.save()
    body = client_for(staff).get(f"{API}/settings/check").json()
    assert body["ready"] is False
    assert set(body["missing"]) == {"model", "api_key", "models"}  # a staff user with no view permission
    config.settings_set_api_key(row=row, api_key=SECRET)
    row.model_alias = ""
    row.save()
    body = client_for(staff).get(f"{API}/settings/check").json()
    assert body["api_key_set"] is True and body["api_key_masked"] == ""  # last four for superusers only
    superuser = make_staff("root@example.com")
    body = client_for(superuser).get(f"{API}/settings/check").json()
    assert body["ready"] is True and body["api_key_masked"] == "••••WXYZ"
    assert SECRET not in str(body) and SECRET not in caplog.text


def test_the_key_is_stored_encrypted_and_survives_a_reload():
    row = config.settings_get()
    config.settings_set_api_key(row=row, api_key=SECRET)
    row.save()
    stored = AssistantSettings.objects.get()
    assert SECRET not in stored.api_key_encrypted
    assert config.decrypt_key(stored.api_key_encrypted) == SECRET
    assert stored.api_key_last4 == "WXYZ"


def test_the_admin_settings_page_is_superuser_only_and_masks_the_key(client):
    row = config.settings_get()
    config.settings_set_api_key(row=row, api_key=SECRET)
    row.save()
    staff = make_staff("editor@example.com", superuser=False)
    client.force_login(staff)
    assert client.get(f"/admin/adminassistant/assistantsettings/{row.pk}/change/").status_code == 403
    client.force_login(make_staff("root@example.com"))
    page = client.get(f"/admin/adminassistant/assistantsettings/{row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "••••WXYZ" in html and SECRET not in html
    response = client.post(
        f"/admin/adminassistant/assistantsettings/{row.pk}/change/",
        {
            "provider": "anthropic",
            "model_alias": "fast",
            "api_key": "",
            "temperature": "0.3",
            "max_tokens": "800",
            "timeout_seconds": "30",
        },
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.model_alias, row.temperature, config.decrypt_key(row.api_key_encrypted)) == ("fast", 0.3, SECRET)
    assert config.config_current().alias == "fast"  # the next question uses it, no restart


def test_csv_of_a_table_escapes_formulas_and_refuses_errors(staff):
    chat = Chat.objects.create(user=staff)
    table = Message.objects.create(
        chat=chat,
        role="assistant",
        result={"kind": "table", "columns": ["name", "n"], "rows": [["=cmd()", 1], ["plain", 2]]},
    )
    failed = Message.objects.create(chat=chat, role="assistant", result={"kind": "error", "columns": [], "rows": []})
    response = client_for(staff).get(f"{API}/results/{table.id}/csv")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == ["name,n", "'=cmd(),1", "plain,2"]
    assert client_for(staff).get(f"{API}/results/{failed.id}/csv").status_code == 409
    other = make_staff("other@example.com", superuser=False)
    assert client_for(other).get(f"{API}/results/{table.id}/csv").status_code == 404


def test_a_question_over_the_rate_is_refused_with_retry_after(staff, settings):
    from adminassistant.services.chats import question_rate_check
    from backend import errors

    settings.ADMIN_ASSISTANT_QUESTION_RATE = "2/m"
    question_rate_check(user=staff)
    question_rate_check(user=staff)
    with pytest.raises(errors.RateLimited) as caught:
        question_rate_check(user=staff)
    assert caught.value.code == "too_many_questions" and caught.value.retry_after >= 1
