"""Every account endpoint is in the OpenAPI schema with its request and response shapes."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("/api/v1/auth/register/", "post"),
    ("/api/v1/auth/login/", "post"),
    ("/api/v1/auth/login/google/", "post"),
    ("/api/v1/auth/logout/", "post"),
    ("/api/v1/auth/logout-all/", "post"),
    ("/api/v1/auth/profile/", "get"),
    ("/api/v1/auth/profile/", "patch"),
    ("/api/v1/auth/verify-email/", "post"),
    ("/api/v1/auth/verify-email/resend/", "post"),
    ("/api/v1/auth/password/reset/", "post"),
    ("/api/v1/auth/password/reset/confirm/", "post"),
    ("/api/v1/auth/password/change/", "post"),
    ("/api/v1/auth/tokens/", "get"),
    ("/api/v1/auth/tokens/{token_id}/", "delete"),
    ("/api/v1/auth/account/", "delete"),
    ("/api/v1/auth/email/change/", "post"),
    ("/api/v1/auth/email/change/confirm/", "post"),
    ("/api/v1/auth/login/2fa/", "post"),
    ("/api/v1/auth/social/providers/", "get"),
    ("/api/v1/auth/social/exchange/", "post"),
    ("/api/v1/auth/identities/", "get"),
    ("/api/v1/auth/identities/{identity_id}/", "delete"),
    ("/api/v1/auth/2fa/", "get"),
    ("/api/v1/auth/2fa/totp/", "post"),
    ("/api/v1/auth/2fa/totp/confirm/", "post"),
    ("/api/v1/auth/2fa/disable/", "post"),
    ("/api/v1/auth/2fa/recovery-codes/", "post"),
    ("/api/v1/auth/invitations/", "get"),
    ("/api/v1/auth/invitations/", "post"),
    ("/api/v1/auth/invitations/{invitation_id}/", "delete"),
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_every_endpoint_is_documented(schema):
    documented = {
        (path, method) for path, item in schema["paths"].items() for method in item if path.startswith("/api/v1/auth/")
    }

    assert documented == EXPECTED


def test_login_documents_its_response(schema):
    operation = schema["paths"]["/api/v1/auth/login/"]["post"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert set(component["properties"]) == {"token", "expiry", "user"}
    assert "requestBody" in operation
    assert "429" in operation["responses"]


def test_the_token_header_is_a_security_scheme(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"]["name"] == "Authorization"
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/auth/profile/"]["get"]["security"]


def test_passwords_are_write_only_in_the_schema(schema):
    register = schema["components"]["schemas"]["RegisterInputRequest"]

    assert register["properties"]["password"]["writeOnly"] is True


def test_login_documents_the_second_factor_challenge(schema):
    for path in ["/api/v1/auth/login/", "/api/v1/auth/login/google/", "/api/v1/auth/social/exchange/"]:
        ref = schema["paths"][path]["post"]["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(component["properties"]) == {"mfa_required", "challenge", "expires_in", "methods"}


def test_the_browser_redirect_endpoints_are_not_api_operations(schema):
    assert not [path for path in schema["paths"] if "/social/{backend}/" in path]
