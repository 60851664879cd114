"""The OpenAPI schema builds without warnings and documents every endpoint, streaming ones included."""

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver


def api_routes(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    resolver = resolver or get_resolver()
    routes: list[str] = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(api_routes(pattern, route))
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            routes.append(route)
    return routes


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    call_command("spectacular", "--file", str(path), "--fail-on-warn", "--validate")
    return yaml.safe_load(path.read_text())


# Browser redirects, not API operations: provider sign-in begins and completes in the browser.
BROWSER_REDIRECTS = {"/api/v1/auth/social/{backend}/begin/", "/api/v1/auth/social/{backend}/complete/"}


def test_every_api_route_is_in_the_schema(schema):
    documented = set(schema["paths"])
    missing = []
    for route in api_routes():
        path = "/" + route.replace("<uuid:", "{").replace("<int:", "{").replace("<str:", "{").replace(">", "}")
        if path not in documented and path not in BROWSER_REDIRECTS:
            missing.append(path)
    assert not missing, f"undocumented endpoints: {missing}"


def _event_frames(schema, operation):
    components = schema["components"]["schemas"]

    def resolve(node):
        while "$ref" in node or "allOf" in node:
            node = components[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node["allOf"][0]
        return node

    content = operation["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    frames = {}
    for ref in resolve(content["text/event-stream"]["schema"])["oneOf"]:
        frame = resolve(ref)
        frames[resolve(frame["properties"]["event"])["enum"][0]] = resolve(frame["properties"]["data"])
    return frames


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/chat/messages/", "post"),
        ("/api/v1/chat/messages/{message_id}/stream/", "get"),
        ("/api/v1/chat/pairs/{pair_id}/edit/", "post"),
        ("/api/v1/prototypes/generate/", "post"),
        ("/api/v1/prototypes/versions/{id}/stream/", "get"),
    ],
)
def test_streaming_endpoints_document_each_event_and_its_payload(schema, path, method):
    frames = _event_frames(schema, schema["paths"][path][method])
    app_events = {"citations", "tool_call", "tool_confirmation", "tool_result"} if "/chat/" in path else set()

    assert set(frames) == {"message_start", "delta", "snapshot", "budget_warning", "message_stop", "error", *app_events}
    assert {"model"} <= set(frames["message_start"]["properties"])
    assert set(frames["budget_warning"]["required"]) >= {"limit_tokens", "limit_usd", "spent_tokens", "resets_at"}
    assert set(frames["delta"]["properties"]) >= {"text"}
    assert set(frames["message_stop"]["required"]) >= {"stop_reason", "model", "usage"}
    assert set(frames["error"]["required"]) >= {"code", "message", "retryable", "model", "usage"}
    if app_events:
        assert set(frames["tool_confirmation"]["required"]) >= {"call_id", "tool", "summary"}
        assert "citations" in frames["citations"]["required"]


def test_streaming_endpoints_document_their_headers(schema):
    send = schema["paths"]["/api/v1/chat/messages/"]["post"]

    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])
    assert "Last-Event-ID" in str(schema["paths"]["/api/v1/chat/messages/{message_id}/stream/"]["get"]["parameters"])


def test_schema_and_docs_are_served():
    client = Client()

    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content  # Swagger UI assets are served locally


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_error_response_references_the_error_envelope(schema):
    envelope = schema["components"]["schemas"]["ErrorResponse"]
    unreferenced = [
        (path, method, status)
        for path, method, operation in _operations(schema)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": "#/components/schemas/ErrorResponse"}
    ]

    assert envelope["required"] == ["error"]
    assert envelope["properties"]["error"]["required"] == ["code", "message", "details"]
    assert not unreferenced, unreferenced[:10]


def test_every_operation_has_a_summary(schema):
    missing = [(path, method) for path, method, operation in _operations(schema) if not operation.get("summary")]

    assert not missing


def test_sending_a_message_as_multipart_documents_its_files(schema):
    multipart = schema["paths"]["/api/v1/chat/messages/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    component = multipart["schema"]["$ref"].rsplit("/", 1)[1]
    files = schema["components"]["schemas"][component]["allOf"][1]["properties"]["files"]

    assert files == {**files, "type": "array", "items": {"type": "string", "format": "binary"}}


def test_the_authorize_hint_shows_the_token_format_without_html(schema):
    description = schema["components"]["securitySchemes"]["tokenAuth"]["description"]

    assert "`Token aia_" in description
    assert "<" not in description


# Lists that cannot grow past a small bound answer a plain array: the caller's tokens (at most
# AUTH_TOKEN_LIMIT_PER_USER), the versions of one turn, the configured models, the configured
# sign-in providers and the caller's connected ones (one per provider).
BOUNDED_LISTS = {
    "/api/v1/auth/tokens/",
    "/api/v1/chat/pairs/{pair_id}/siblings/",
    "/api/v1/models/",
    "/api/v1/auth/social/providers/",
    "/api/v1/auth/identities/",
}


# Ranked top-k answers: at most `k` results by definition, never paged.
TOP_K_RESULTS = {"/api/v1/chat/projects/{project_id}/search/"}


def test_every_growing_collection_answers_next_previous_results(schema):
    shapes = {}
    for path, method, operation in _operations(schema):
        body = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if method != "get":
            continue
        if body.get("type") == "array":
            shapes[path] = "array"
        elif "$ref" in body:
            properties = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]].get("properties", {})
            if "results" in properties and path not in TOP_K_RESULTS:
                shapes[path] = {"next", "previous", "results"} <= set(properties)

    assert {path for path, shape in shapes.items() if shape == "array"} == BOUNDED_LISTS
    assert all(shape is True for path, shape in shapes.items() if shape != "array")
