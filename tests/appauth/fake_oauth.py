"""A small real OAuth 2.0 provider on loopback, and the test-only backends that point at it.

The server speaks the authorization-code flow the way Google and GitHub do: `/authorize`
redirects back with `code` and `state` (for the profile the test "signed in" as), `/token`
exchanges a code once (checking client id, secret and redirect URI), and the user endpoints
answer for the access token: Google's `/userinfo`, GitHub's `/github/user` and
`/github/user/emails`, Microsoft Graph's `/graph/me`.

The backends below are social-core's own classes with only their endpoint URLs moved to this
server (social-core hard-codes the Google and Graph user URLs, hence their short `user_data`).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from social_core.backends.github import GithubOAuth2
from social_core.backends.google import GoogleOAuth2
from social_core.backends.microsoft import MicrosoftOAuth2

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Profile:
    """Who is signed in at the fake provider."""

    subject: str = "fake-sub-1"
    email: str = "someone@example.com"
    email_verified: bool = True
    given_name: str = "Grace"
    family_name: str = "Hopper"
    # GitHub: extra addresses of /user/emails beyond the primary one.
    other_emails: list[dict[str, Any]] = field(default_factory=list)


class FakeOAuthProvider:
    def __init__(self) -> None:
        self.profile = Profile()
        self.codes: dict[str, tuple[str, Profile]] = {}  # code -> (redirect_uri, profile)
        self.tokens: dict[str, Profile] = {}
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _bearer(self) -> Profile | None:
                header = self.headers.get("Authorization", "")
                _, _, token = header.partition(" ")
                return provider.tokens.get(token)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                provider.requests.append(url.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                if url.path == "/authorize":
                    if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                        self._json(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = (query["redirect_uri"], provider.profile)
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                profile = self._bearer()
                if profile is None:
                    self._json(401, {"error": "invalid_token"})
                elif url.path == "/userinfo":
                    self._json(200, _google_userinfo(profile))
                elif url.path == "/github/user":
                    self._json(200, _github_user(profile))
                elif url.path == "/graph/me":
                    self._json(200, _graph_me(profile))
                elif url.path == "/github/user/emails":
                    primary = {"email": profile.email, "primary": True, "verified": profile.email_verified}
                    self._json(200, [primary, *profile.other_emails])
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                provider.requests.append(url.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if url.path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                issued = provider.codes.pop(form.get("code", ""), None)
                if (
                    issued is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET
                    or form.get("redirect_uri") != issued[0]
                    or form.get("grant_type") != "authorization_code"
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                token = secrets.token_urlsafe(24)
                provider.tokens[token] = issued[1]
                self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _google_userinfo(profile: Profile) -> dict[str, Any]:
    return {
        "sub": profile.subject,
        "email": profile.email,
        "email_verified": profile.email_verified,
        "given_name": profile.given_name,
        "family_name": profile.family_name,
        "name": f"{profile.given_name} {profile.family_name}",
    }


def _github_user(profile: Profile) -> dict[str, Any]:
    # GitHub's numeric id is the key; the public email is often null (then /user/emails tells).
    return {
        "id": int(profile.subject),
        "login": "octo",
        "name": f"{profile.given_name} {profile.family_name}",
        "email": None,
    }


def _graph_me(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.subject,
        "mail": profile.email,
        "userPrincipalName": profile.email,
        "givenName": profile.given_name,
        "surname": profile.family_name,
        "displayName": f"{profile.given_name} {profile.family_name}",
    }


class FakeGoogleOAuth2(GoogleOAuth2):
    """social-core's Google backend, talking to the fake provider."""

    def authorization_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/authorize"

    def access_token_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/token"

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        response = self.get_json(
            f"{settings.TEST_OAUTH_PROVIDER_URL}/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        self.validate_email_verified(response)
        return response


class FakeGithubOAuth2(GithubOAuth2):
    """social-core's GitHub backend, talking to the fake provider."""

    def authorization_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/authorize"

    def access_token_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/token"

    def api_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/github/"


class FakeMicrosoftOAuth2(MicrosoftOAuth2):
    """social-core's Microsoft Graph backend, talking to the fake provider."""

    def authorization_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/authorize"

    def access_token_url(self) -> str:
        return f"{settings.TEST_OAUTH_PROVIDER_URL}/token"

    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return self.get_json(
            f"{settings.TEST_OAUTH_PROVIDER_URL}/graph/me", headers={"Authorization": f"Bearer {access_token}"}
        )
