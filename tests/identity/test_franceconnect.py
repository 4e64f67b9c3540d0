"""FranceConnect end to end against a small OpenID Connect provider started here: real HTTP
(discovery, token endpoint, JWKS), a real RS256-signed id_token with the nonce the gateway
sent, the gateway's Authlib client verifying it, identity linking or creating the account."""
from __future__ import annotations

import os
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, redirect, request
from jwt.algorithms import RSAAlgorithm
from werkzeug.serving import make_server

CLIENT_ID, CLIENT_SECRET = "guichet-test", secrets.token_urlsafe(16)


class Provider:
    """The subset of an OIDC provider FranceConnect offers: code flow, client_secret_post."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "fc-" + secrets.token_hex(4)
        self.codes: dict[str, dict[str, Any]] = {}
        self.next_claims: dict[str, Any] = {}
        self.sign_key: Any = self.key  # a test can swap in a foreign key
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():  # type: ignore[no-untyped-def]
            return jsonify(issuer=self.issuer, authorization_endpoint=self.issuer + "/authorize",
                           token_endpoint=self.issuer + "/token", jwks_uri=self.issuer + "/jwks",
                           userinfo_endpoint=self.issuer + "/userinfo", response_types_supported=["code"],
                           end_session_endpoint=self.issuer + "/logout",
                           subject_types_supported=["public"], id_token_signing_alg_values_supported=["RS256"],
                           token_endpoint_auth_methods_supported=["client_secret_post"])

        @app.get("/jwks")
        def jwks():  # type: ignore[no-untyped-def]
            jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return jsonify(keys=[dict(jwk, kid=self.kid, alg="RS256", use="sig")])

        @app.get("/authorize")
        def authorize():  # type: ignore[no-untyped-def]
            a = request.args
            assert a["client_id"] == CLIENT_ID and a["response_type"] == "code" and "openid" in a["scope"]
            assert a.get("acr_values") == "eidas1"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": a.get("nonce"), "redirect_uri": a["redirect_uri"], "claims": dict(self.next_claims)}
            return redirect(a["redirect_uri"] + "?" + urlencode({"code": code, "state": a["state"]}))

        @app.post("/token")
        def token():  # type: ignore[no-untyped-def]
            f = request.form
            if f.get("client_id") != CLIENT_ID or f.get("client_secret") != CLIENT_SECRET:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(f.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != f.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 60, "nonce": grant["nonce"],
                      "acr": "eidas1", **grant["claims"]}
            id_token = jwt.encode(claims, self.sign_key, algorithm="RS256", headers={"kid": self.kid})
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=60, id_token=id_token)

        @app.get("/userinfo")
        def userinfo():  # type: ignore[no-untyped-def]
            return jsonify(sub="unused")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def provider() -> Any:
    p = Provider()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def fc_app(stack: Any, provider: Provider) -> Any:
    app = stack.gateway_app(TESTING=True, FRANCECONNECT={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                          "issuer": provider.issuer})
    yield app
    app.extensions["rpc"].close()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def franceconnect(app: Any, provider: Provider, claims: dict[str, Any], next_path: str = "/mon-compte") -> Any:
    """The browser's journey: button → provider (real HTTP) → callback. Returns (client, response)."""
    c = app.test_client()
    page = c.get("/connexion?next=" + next_path)
    html = page.get_data(as_text=True)
    assert "S’identifier avec" in html and "FranceConnect" in html
    r = c.post("/franceconnect/connexion", data={"csrf_token": csrf(html), "next": next_path})
    assert r.status_code == 302 and r.headers["Location"].startswith(provider.issuer + "/authorize?")
    provider.next_claims = claims
    back = requests.get(r.headers["Location"], allow_redirects=False, timeout=10)  # the provider, over HTTP
    assert back.status_code == 302
    url = urlparse(back.headers["Location"])
    assert url.path == "/franceconnect/retour" and "code" in parse_qs(url.query)
    return c, c.get(url.path + "?" + url.query)


def claims_for(email: str, sub: str | None = None) -> dict[str, Any]:
    return {"sub": sub or secrets.token_hex(16), "given_name": "Angela Claire", "family_name": "Dubois",
            "email": email, "birthdate": "1962-08-24"}


def test_button_only_when_configured(client):
    html = client.get("/connexion").get_data(as_text=True)
    assert "FranceConnect" not in html
    assert client.post("/franceconnect/connexion").status_code in (400, 404)  # no CSRF or not configured


def test_first_login_creates_the_account_then_the_same_subject_signs_in_again(fc_app, provider):
    email = f"fc-{os.urandom(4).hex()}@example.test"
    claims = claims_for(email)
    c, r = franceconnect(fc_app, provider, claims, "/mes-relations")
    assert r.status_code == 302 and r.headers["Location"] == "/mes-relations"
    assert any(h.startswith("guichet_access=") and "HttpOnly" in h for h in r.headers.getlist("Set-Cookie"))
    html = c.get("/mon-compte").get_data(as_text=True)
    assert "Angela" in html and "Dubois" in html and email in html
    # Again with the same subject (even if the provider now sends another email): same account.
    c2, r2 = franceconnect(fc_app, provider, dict(claims, email="other-" + email))
    assert r2.status_code == 302
    assert email in c2.get("/mon-compte").get_data(as_text=True)
    # Signing out ends the FranceConnect session too (RP-initiated logout with the id_token).
    page = c2.get("/mon-compte").get_data(as_text=True)
    r = c2.post("/deconnexion", data={"csrf_token": csrf(page)})
    assert r.status_code == 302
    out = urlparse(r.headers["Location"])
    assert r.headers["Location"].startswith(provider.issuer + "/logout?")
    q = parse_qs(out.query)
    assert q["id_token_hint"] and q["state"] and q["post_logout_redirect_uri"][0].endswith("/")
    assert c2.get("/mon-compte").status_code == 302


def test_first_login_links_an_existing_account_by_verified_email(fc_app, provider, make_citizen):
    citizen = make_citizen("fclink")
    me = citizen.get("/api/v1/me").get_json()
    c, r = franceconnect(fc_app, provider, claims_for(citizen.email))
    assert r.status_code == 302
    assert citizen.email in c.get("/mon-compte").get_data(as_text=True)
    # Same account: the export shows the link and the same id.
    export = c.get("/mon-compte/export").get_json()
    assert export["identity"]["id"] == me["id"] and export["identity"]["franceconnect"] is True
    # The password still works too.
    from guichet_common.testing.plugin import login

    login(fc_app.test_client(), citizen.email, citizen.password)


def test_unverified_email_of_an_existing_account_is_not_linked(fc_app, provider, make_citizen):
    citizen = make_citizen("fcunverified")
    c, r = franceconnect(fc_app, provider, dict(claims_for(citizen.email), email_verified=False))
    assert r.status_code == 409
    assert "mot de passe" in r.get_data(as_text=True)


def test_an_id_token_signed_by_another_key_is_refused(fc_app, provider):
    provider.sign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        c, r = franceconnect(fc_app, provider, claims_for(f"fc-{os.urandom(4).hex()}@example.test"))
    finally:
        provider.sign_key = provider.key
    assert r.status_code == 400
    assert "n’a pas pu être vérifiée" in r.get_data(as_text=True)
    assert c.get("/mon-compte").status_code == 302  # no session


def test_a_forged_state_is_refused(fc_app, provider):
    c = fc_app.test_client()
    r = c.get("/franceconnect/retour?code=abc&state=forged")
    assert r.status_code == 400
