"""Local stand-in for Google's signing keys: RSA keys made per test run, served as a JWKS over HTTP."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

WEB_CLIENT_ID = "1234-web.apps.googleusercontent.com"
IOS_CLIENT_ID = "1234-ios.apps.googleusercontent.com"
FOREIGN_CLIENT_ID = "9999-someone-else.apps.googleusercontent.com"


class SigningKey:
    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


class GoogleKeyServer:
    """Serves `{"keys": [...]}` at /certs; `status` makes it fail like an outage."""

    def __init__(self) -> None:
        self.key = SigningKey()
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps({"keys": [server.key.jwk()]}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/certs"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def id_token(self, *, key: SigningKey | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A Google-shaped id_token signed with the served key (or `key`); claims override defaults."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "aud": WEB_CLIENT_ID,
            "azp": WEB_CLIENT_ID,
            "sub": "110169484474386276334",
            "email": "google.user@example.com",
            "email_verified": True,
            "given_name": "Grace",
            "family_name": "Hopper",
            "iat": now,
            "exp": now + 3600,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        signer = key or self.key
        return jwt.encode(
            payload, signer.private_key, algorithm="RS256", headers={"kid": signer.kid, **(headers or {})}
        )
