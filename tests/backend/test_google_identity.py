"""Google id_token verification against locally generated RSA keys served over HTTP (never Google)."""

import time

import pytest

from backend import google_identity
from backend.google_identity import GoogleUnavailable, InvalidGoogleToken, verify_id_token
from tests.appauth.google_keys import FOREIGN_CLIENT_ID, IOS_CLIENT_ID, WEB_CLIENT_ID, SigningKey


def test_a_valid_token_gives_the_identity(google):
    identity = verify_id_token(google.id_token())

    assert identity.subject == "110169484474386276334"
    assert identity.email == "google.user@example.com"
    assert identity.email_verified is True
    assert (identity.given_name, identity.family_name) == ("Grace", "Hopper")
    assert identity.audience == WEB_CLIENT_ID


@pytest.mark.parametrize("issuer", ["accounts.google.com", "https://accounts.google.com"])
def test_both_google_issuers_are_accepted(google, issuer):
    assert verify_id_token(google.id_token(iss=issuer)).subject


def test_every_configured_client_id_is_an_accepted_audience(google):
    assert verify_id_token(google.id_token(aud=IOS_CLIENT_ID)).audience == IOS_CLIENT_ID


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": FOREIGN_CLIENT_ID}, id="foreign-app-audience"),
        pytest.param({"iss": "https://evil.example.com"}, id="wrong-issuer"),
        pytest.param({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"),
        pytest.param({"sub": None}, id="no-subject"),
        pytest.param({"exp": None}, id="no-expiry"),
    ],
)
def test_tokens_failing_a_claim_check_are_refused(google, claims):
    with pytest.raises(InvalidGoogleToken):
        verify_id_token(google.id_token(**claims))


def test_a_token_signed_by_another_key_is_refused(google):
    forged = google.id_token(key=SigningKey(), headers={"kid": google.key.kid})

    with pytest.raises(InvalidGoogleToken):
        verify_id_token(forged)


def test_a_token_with_an_unknown_key_id_is_refused(google):
    with pytest.raises(InvalidGoogleToken):
        verify_id_token(google.id_token(key=SigningKey()))


def test_an_unsigned_token_is_refused(google):
    import jwt

    unsigned = jwt.encode({"iss": "accounts.google.com", "aud": WEB_CLIENT_ID, "sub": "1"}, None, algorithm="none")

    with pytest.raises(InvalidGoogleToken):
        verify_id_token(unsigned)


def test_a_tampered_payload_is_refused(google):
    header, _payload, signature = google.id_token().split(".")
    other_payload = google.id_token(sub="someone-else").split(".")[1]

    with pytest.raises(InvalidGoogleToken):
        verify_id_token(f"{header}.{other_payload}.{signature}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 9000, "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"])
def test_garbage_is_refused_not_crashed_on(google, garbage):
    with pytest.raises(InvalidGoogleToken):
        verify_id_token(garbage)


def test_string_email_verified_claims_are_understood(google):
    assert verify_id_token(google.id_token(email_verified="true")).email_verified is True
    assert verify_id_token(google.id_token(email_verified=False)).email_verified is False


def test_key_server_errors_are_a_503(google):
    google.status = 500

    with pytest.raises(GoogleUnavailable) as caught:
        verify_id_token(google.id_token())
    assert caught.value.status_code == 503


def test_an_unreachable_key_server_is_a_503(google, settings):
    settings.GOOGLE_JWKS_URL = "http://127.0.0.1:1/certs"

    with pytest.raises(GoogleUnavailable):
        verify_id_token(google.id_token())


def test_keys_are_cached_between_verifications(google):
    before = google.requests
    verify_id_token(google.id_token())
    verify_id_token(google.id_token())

    assert google.requests - before == 1


def test_no_configured_client_ids_refuses_everything(google, settings):
    settings.GOOGLE_CLIENT_IDS = []

    with pytest.raises(InvalidGoogleToken) as caught:
        verify_id_token(google.id_token())
    assert caught.value.code == "google_not_configured"


def test_a_key_server_that_never_answers_times_out_as_a_503(google, settings):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        settings.GOOGLE_JWKS_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/certs"
        settings.GOOGLE_JWKS_TIMEOUT_SECONDS = 0.3
        google_identity.reset_clients()

        with pytest.raises(GoogleUnavailable):
            verify_id_token(google.id_token())
    finally:
        silent.close()
