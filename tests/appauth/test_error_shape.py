"""Every account endpoint answers bad input with a 4xx in the one error shape, never a 500."""

import json

import pytest

pytestmark = pytest.mark.django_db

PUBLIC = [
    "register/",
    "login/",
    "login/google/",
    "verify-email/",
    "verify-email/resend/",
    "password/reset/",
    "password/reset/confirm/",
    "email/change/confirm/",
]
PRIVATE = [("post", "password/change/"), ("patch", "profile/"), ("delete", "account/"), ("post", "email/change/")]

WRONG_TYPES = {
    "email": ["a@example.com"],
    "password": {"nested": True},
    "id_token": 12345,
    "uid": None,
    "token": ["x"],
    "new_password": 1.5,
    "current_password": False,
    "first_name": {"x": 1},
    "device_name": ["laptop"],
    "new_email": 42,
}


def assert_error_shape(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


@pytest.fixture
def client_for(auth_client, api_client):
    return lambda private: auth_client if private else api_client


def _cases():
    for path in PUBLIC:
        yield False, "post", path
    for method, path in PRIVATE:
        yield True, method, path


CASES = list(_cases())
IDS = [f"{method}-{path}" for _, method, path in CASES]


@pytest.mark.parametrize(("private", "method", "path"), CASES, ids=IDS)
def test_wrong_types(client_for, private, method, path):
    response = getattr(client_for(private), method)(f"/api/v1/auth/{path}", WRONG_TYPES, format="json")

    assert_error_shape(response, 400)


@pytest.mark.parametrize(
    ("private", "method", "path"), [c for c in CASES if c[2] != "profile/"], ids=[i for i in IDS if "profile" not in i]
)
def test_missing_fields(client_for, private, method, path):
    response = getattr(client_for(private), method)(f"/api/v1/auth/{path}", {}, format="json")

    error = assert_error_shape(response, 400)
    assert error["code"] in {"invalid", "reauthentication_required"}


@pytest.mark.parametrize(("private", "method", "path"), CASES, ids=IDS)
def test_malformed_json(client_for, private, method, path):
    response = getattr(client_for(private), method)(
        f"/api/v1/auth/{path}", data=b'{"email": ', content_type="application/json"
    )

    assert assert_error_shape(response, 400)["code"] == "malformed_request"


@pytest.mark.parametrize(("private", "method", "path"), CASES, ids=IDS)
def test_json_that_is_not_an_object(client_for, private, method, path):
    response = getattr(client_for(private), method)(
        f"/api/v1/auth/{path}", data=b'["a", "list"]', content_type="application/json"
    )

    assert_error_shape(response, 400)


@pytest.mark.parametrize(("private", "method", "path"), CASES, ids=IDS)
def test_oversize_bodies(client_for, private, method, path, settings):
    body = json.dumps({"email": "a@example.com", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})

    response = getattr(client_for(private), method)(f"/api/v1/auth/{path}", data=body, content_type="application/json")

    assert_error_shape(response, 400, 413)


@pytest.mark.parametrize(("private", "method", "path"), CASES, ids=IDS)
def test_unsupported_media_type(client_for, private, method, path):
    response = getattr(client_for(private), method)(
        f"/api/v1/auth/{path}", data=b"<xml/>", content_type="application/xml"
    )

    assert assert_error_shape(response, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("field", ["password", "new_password"])
def test_overlong_passwords_are_refused_not_truncated(api_client, field):
    body = {"email": "a@example.com", "password": "p" * 1025, "uid": "x", "token": "y", "new_password": "p" * 1025}
    path = "register/" if field == "password" else "password/reset/confirm/"

    error = assert_error_shape(api_client.post(f"/api/v1/auth/{path}", body, format="json"), 400)

    assert field in error["details"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("verify-email/", {"uid": "%%%", "token": "\u0000"}),
        ("verify-email/", {"uid": "A" * 64, "token": "-" * 64}),
        ("password/reset/confirm/", {"uid": "AAAA", "token": "9999999999999-x", "new_password": "whatever pass"}),
        ("login/google/", {"id_token": "not.a.jwt"}),
        ("login/google/", {"id_token": "\u00e9" * 100}),
        ("email/change/confirm/", {"token": "garbage:token:value"}),
        ("email/change/confirm/", {"token": "\u0000" * 10}),
    ],
)
def test_malformed_tokens_are_4xx(api_client, path, body, settings):
    settings.GOOGLE_CLIENT_IDS = ["configured.apps.googleusercontent.com"]
    settings.GOOGLE_JWKS_URL = "http://127.0.0.1:1/never-reached"

    assert_error_shape(api_client.post(f"/api/v1/auth/{path}", body, format="json"), 400)


def test_wrong_methods_are_405(api_client, auth_client):
    assert_error_shape(api_client.get("/api/v1/auth/login/"), 405)
    assert_error_shape(auth_client.put("/api/v1/auth/profile/", {}, format="json"), 405)
    assert_error_shape(auth_client.post("/api/v1/auth/tokens/", {}, format="json"), 405)


def test_form_encoded_login_works_too(api_client, user):
    from tests.factories import DEFAULT_PASSWORD

    response = api_client.post("/api/v1/auth/login/", {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
