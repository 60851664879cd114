"""Every chat REST endpoint is in the OpenAPI schema with its request and response shapes."""

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls_rest_test")]

EXPECTED = {
    ("/api/v1/chat/chats/", "get"),
    ("/api/v1/chat/chats/", "post"),
    ("/api/v1/chat/chats/search/", "get"),
    ("/api/v1/chat/chats/{chat_id}/", "get"),
    ("/api/v1/chat/chats/{chat_id}/", "patch"),
    ("/api/v1/chat/chats/{chat_id}/", "delete"),
    ("/api/v1/chat/chats/{chat_id}/archive/", "post"),
    ("/api/v1/chat/chats/{chat_id}/unarchive/", "post"),
    ("/api/v1/chat/chats/{chat_id}/system-prompt/", "post"),
    ("/api/v1/chat/chats/{chat_id}/messages/", "get"),
    ("/api/v1/chat/chats/{chat_id}/title/regenerate/", "post"),
    ("/api/v1/chat/chats/{chat_id}/usage/", "get"),
    ("/api/v1/chat/chats/{chat_id}/export/", "get"),
    ("/api/v1/chat/pairs/{pair_id}/", "delete"),
    ("/api/v1/chat/pairs/{pair_id}/siblings/", "get"),
    ("/api/v1/chat/pairs/{pair_id}/switch/", "post"),
    ("/api/v1/chat/pairs/{pair_id}/toggle/", "post"),
    ("/api/v1/chat/projects/", "get"),
    ("/api/v1/chat/projects/", "post"),
    ("/api/v1/chat/projects/{project_id}/", "get"),
    ("/api/v1/chat/projects/{project_id}/", "patch"),
    ("/api/v1/chat/projects/{project_id}/", "delete"),
    ("/api/v1/chat/projects/{project_id}/knowledge/", "get"),
    ("/api/v1/chat/projects/{project_id}/chats/", "get"),
    ("/api/v1/chat/projects/{project_id}/usage/", "get"),
    ("/api/v1/chat/projects/{project_id}/search/", "get"),
    ("/api/v1/chat/knowledge/upload/", "post"),
    ("/api/v1/chat/messages/{message_id}/tool-calls/{call_id}/confirm/", "post"),
    ("/api/v1/chat/messages/{message_id}/tool-calls/{call_id}/reject/", "post"),
    ("/api/v1/chat/knowledge/", "get"),
    ("/api/v1/chat/knowledge/", "post"),
    ("/api/v1/chat/knowledge/{knowledge_id}/", "get"),
    ("/api/v1/chat/knowledge/{knowledge_id}/", "patch"),
    ("/api/v1/chat/knowledge/{knowledge_id}/", "delete"),
    ("/api/v1/chat/knowledge/{knowledge_id}/toggle/", "post"),
    ("/api/v1/chat/prompts/", "get"),
    ("/api/v1/chat/prompts/", "post"),
    ("/api/v1/chat/prompts/{prompt_id}/", "get"),
    ("/api/v1/chat/prompts/{prompt_id}/", "patch"),
    ("/api/v1/chat/prompts/{prompt_id}/", "delete"),
    ("/api/v1/chat/usage/", "get"),
    ("/api/v1/chat/import/", "post"),
    ("/api/v1/chat/shares/", "get"),
    ("/api/v1/chat/shares/", "post"),
    ("/api/v1/chat/shares/{share_id}/", "get"),
    ("/api/v1/chat/shares/{share_id}/", "delete"),
}


@pytest.fixture
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_endpoint_is_documented(schema):
    documented = {(path, method) for path, item in schema["paths"].items() for method in item if method != "parameters"}

    assert documented == EXPECTED


def test_writes_document_their_request_and_lists_their_pagination(schema):
    paths = schema["paths"]

    assert "requestBody" in paths["/api/v1/chat/chats/"]["post"]
    assert "requestBody" in paths["/api/v1/chat/knowledge/"]["post"]
    chat_list = paths["/api/v1/chat/chats/"]["get"]
    assert {parameter["name"] for parameter in chat_list["parameters"]} >= {
        "archived",
        "project",
        "cursor",
        "page_size",
    }
    page = chat_list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("PaginatedChatListList")


def test_messages_page_is_documented(schema):
    operation = schema["paths"]["/api/v1/chat/chats/{chat_id}/messages/"]["get"]

    assert {parameter["name"] for parameter in operation["parameters"]} >= {"before", "page_size"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("BranchPage")


def test_title_regeneration_is_tagged_with_the_chats_not_with_memory(schema):
    operation = schema["paths"]["/api/v1/chat/chats/{chat_id}/title/regenerate/"]["post"]

    assert operation["tags"] == ["chat"]


def test_the_public_shared_chat_endpoints_need_no_authentication():
    from django.test import override_settings

    with override_settings(ROOT_URLCONF="aiassistant.urls"):
        schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    shared = schema["paths"]["/api/v1/shared/{token}/"]["get"]
    attachment = schema["paths"]["/api/v1/shared/{token}/attachments/{attachment_id}/"]["get"]

    for operation in (shared, attachment):
        assert operation.get("security") in (None, [], [{}])
        assert {"404", "410"} <= set(operation["responses"])
        assert "401" not in operation["responses"]
    assert "402" in schema["paths"]["/api/v1/chat/messages/"]["post"]["responses"]
    assert "budget" in str(schema["components"]["schemas"]["UserUsageReport"])
