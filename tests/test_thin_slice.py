"""The foundation's thin slice, real on every hop: gateway -> identity RPC -> event ->
notify -> SMTP -> .eml file; then activation, sign-in and the profile."""
from __future__ import annotations

import email.header


def test_healthz_reports_every_service(client):
    r = client.get("/healthz")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json() == {"status": "ok", "services": {s: "ok" for s in ("identity", "demarches", "wallet", "notify")}}


def test_register_mails_activation_link_then_sign_in(client, mail, stack):
    addr = "slice-1@example.test"
    r = client.post("/api/v1/accounts", json={"email": addr, "password": "Versailles2026!",
                                              "first_name": "Anne", "last_name": "Martin"})
    assert r.status_code == 202
    assert r.get_json() == {"status": "pending"}
    [msg] = mail.to(addr)
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    assert "Activez votre compte" in subject
    link = mail.link(addr, "activation")
    assert link.startswith(f"http://127.0.0.1:{stack.port}/activation?token=")
    token = mail.token(addr, "activation")
    assert client.post("/api/v1/auth/login", json={"email": addr, "password": "Versailles2026!"}).status_code == 401
    assert client.post("/api/v1/accounts/activate", json={"token": token}).status_code == 200
    assert client.post("/api/v1/accounts/activate", json={"token": token}).status_code == 400  # single use
    r = client.post("/api/v1/auth/login", json={"email": addr, "password": "Versailles2026!"})
    assert r.status_code == 200
    pair = r.get_json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + pair["access_token"]})
    assert me.status_code == 200
    assert me.get_json()["email"] == addr


def test_seeded_staff_can_sign_in(agent, admin, client):
    assert "agent" in client.get("/api/v1/me", headers=agent.headers).get_json()["roles"]
    assert "admin" in client.get("/api/v1/me", headers=admin.headers).get_json()["roles"]


def test_bad_input_is_problem_json_not_500(client):
    r = client.post("/api/v1/accounts", data="not json", content_type="application/json")
    assert r.status_code == 400
    assert r.content_type == "application/problem+json"
    assert r.get_json()["status"] == 400
    r = client.get("/api/v1/does-not-exist")
    assert r.status_code == 404 and r.content_type == "application/problem+json"
