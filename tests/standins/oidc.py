"""A local stand-in of an OpenID Connect provider, served over real HTTP on 127.0.0.1.

Discovery, JWKS, an authorize endpoint that approves at once (as the person set in
`signs_in`) and redirects back with a code, and a token endpoint that checks what a
provider checks (client secret by HTTP Basic, the code once, the redirect URI, the PKCE
verifier) and answers with an RS256-signed ID token carrying the request's nonce.

Knobs for the refusals: `nonce_override` signs a different nonce; `state_override`
sends the browser back with a different state; `audience` names another client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "riverwatch-test"
CLIENT_SECRET = "a-client-secret-for-tests"
KID = "standin-1"


@dataclass
class Grant:
    redirect_uri: str
    nonce: str
    challenge: str
    claims: dict[str, Any]


@dataclass
class OidcStandIn:
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": KID}))
    issuer: str = ""
    signs_in: dict[str, Any] = field(default_factory=dict)  # claims of who approves
    nonce_override: str | None = None
    state_override: str | None = None
    audience: str = CLIENT_ID
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: int = 0

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, b"unknown client or response type"
        if query.get("code_challenge_method") != "S256" or "code_challenge" not in query:
            return 400, {}, b"PKCE required"
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            query["redirect_uri"], query.get("nonce", ""), query["code_challenge"], self.signs_in
        )
        state = self.state_override or query.get("state", "")
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': state})}"
        return 302, {"Location": back}, b""

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"error": "invalid_client"}
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce_override or grant.nonce,
            **grant.claims,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": KID}, claims, self.key)
        access = secrets.token_urlsafe(16)
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }


def _handler(provider: OidcStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.metadata())
            elif url.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, headers, body = provider.authorize(query)
                self._send(status, body, headers)
            else:
                self._send(404, b"", {})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._send(404, b"", {})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            status, data = provider.token(form, self.headers.get("Authorization", ""))
            self._json(status, data)

    return Handler


@contextmanager
def serving_provider() -> Iterator[OidcStandIn]:
    provider = OidcStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
