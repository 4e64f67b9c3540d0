"""Accounts, sessions and profile through the gateway, on the real stack (services as
processes, real broker, real database, real SMTP sink)."""
from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from guichet_common.db import make_engine
from guichet_common.testing.plugin import login
from guichet_identity import domain
from guichet_identity.models import OneTimeToken
from sqlalchemy import update
from sqlalchemy.orm import Session

PASSWORD = "Versailles2026!"


def addr(tag: str) -> str:
    return f"{tag}-{os.urandom(4).hex()}@example.test"


def register(client, email: str, password: str = PASSWORD):
    return client.post("/api/v1/accounts", json={"email": email, "password": password,
                                                 "first_name": "Anne", "last_name": "Martin"})


def problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"]
    return body


def mailed_link(mail, email: str, subject: str, word: str) -> str:
    """The link containing `word` in the mail with that subject (waiting for it to arrive)."""
    msgs = mail.to(email, subject=subject)
    assert msgs, f"no mail « {subject} » to {email}"
    links = [x for x in re.findall(r"https?://[^\s\"'<>]+", mail.body(msgs[-1])) if word in x]
    assert links, mail.body(msgs[-1])
    return links[-1]


def expire_token(stack, token: str) -> None:
    engine = make_engine(stack.db_urls["identity"])
    with Session(engine) as s:
        s.execute(update(OneTimeToken).where(OneTimeToken.token_hash == domain.hash_token(token))
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    engine.dispose()


# --- sign-up -----------------------------------------------------------------------------

@pytest.mark.parametrize("password, says", [
    ("Court1!", "au moins 8 caractères"),
    ("minuscules2026", "majuscule"),
    ("MAJUSCULES2026", "minuscule"),
    ("SansChiffre!", "chiffre"),
    ("Accentué2026", "non accepté"),
    ("Tiret-2026ok", "non accepté"),
])
def test_each_password_clause_is_a_422_that_names_it(client, password, says):
    body = problem(register(client, addr("pw"), password), 422)
    assert any(says in m for m in body["errors"]["password"]), body


def test_invalid_email_is_422(client):
    body = problem(register(client, "anne@@example"), 422)
    assert "email" in body["errors"]


def test_known_email_same_answer_and_the_owner_is_mailed(client, make_citizen, mail):
    c = make_citizen("known")
    r = register(client, c.email, "Autre2026pass")
    assert r.status_code == 202 and r.get_json() == {"status": "pending"}
    [msg] = mail.to(c.email, subject="Tentative d'inscription")
    assert "/mot-de-passe-oublie" in mail.body(msg)
    assert len(mail.to(c.email, subject="Activez votre compte", wait_s=0.5)) == 1  # only the first one


def test_activation_link_expired_after_48_hours_is_400(client, mail, stack):
    email = addr("exp")
    assert register(client, email).status_code == 202
    token = mail.token(email, "activation")
    expire_token(stack, token)
    problem(client.post("/api/v1/accounts/activate", json={"token": token}), 400)
    problem(client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 401)


# --- sessions ----------------------------------------------------------------------------

def test_refresh_works_once_and_reuse_revokes_the_chain(client, make_citizen):
    c = make_citizen("refresh")
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]})
    assert r.status_code == 200
    second = r.get_json()
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]}), 401)
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)


def test_logout_204_then_refresh_401(client, make_citizen):
    c = make_citizen("logout")
    assert client.post("/api/v1/auth/logout", json={"refresh_token": c.tokens["refresh_token"]}).status_code == 204
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]}), 401)


def test_alg_none_tampered_and_foreign_tokens_are_401(client, make_citizen):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    c = make_citizen("forge")
    good = c.tokens["access_token"]
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    none_token = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})
    h, _, sig = good.split(".")
    tampered = h + "." + jwt.utils.base64url_encode(json.dumps(dict(claims, roles=["admin"])).encode()).decode() + "." + sig
    foreign = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]})
    hs256 = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": header["kid"]})
    for bad in (none_token, tampered, foreign, hs256, "garbage"):
        problem(client.get("/api/v1/me", headers={"Authorization": "Bearer " + bad}), 401)
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer " + good}).status_code == 200
    problem(client.get("/api/v1/me"), 401)


def test_jwks_is_published(client):
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    assert keys and all(k["kty"] == "OKP" and k["kid"] and "d" not in k for k in keys)


def test_repeated_failures_lock_the_account_429_with_wait_and_mail(client, make_citizen, mail):
    c = make_citizen("brute")
    for _ in range(5):
        problem(client.post("/api/v1/auth/login", json={"email": c.email, "password": "Mauvais2026"}), 401)
    r = client.post("/api/v1/auth/login", json={"email": c.email, "password": PASSWORD})
    body = problem(r, 429)
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60 + 1
    assert "minutes" in body["detail"]
    assert mail.to(c.email, subject="temporairement bloqué")


def test_repeated_failures_from_one_client_are_braked(client, make_citizen):
    c = make_citizen("victim")
    env = {"REMOTE_ADDR": f"10.{os.urandom(1)[0]}.{os.urandom(1)[0]}.7"}
    for i in range(20):
        r = client.post("/api/v1/auth/login", json={"email": addr(f"x{i}"), "password": "Mauvais2026"},
                        environ_base=env)
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"email": c.email, "password": PASSWORD}, environ_base=env)
    problem(r, 429)
    assert int(r.headers["Retry-After"]) > 0
    assert client.post("/api/v1/auth/login", json={"email": c.email, "password": PASSWORD}).status_code == 200


# --- password reset and change -------------------------------------------------------

def test_password_reset_round_trip_through_the_real_mail(client, make_citizen, mail, stack):
    c = make_citizen("reset")
    unknown = addr("nobody")
    for email in (unknown, c.email, "pas-une-adresse"):
        r = client.post("/api/v1/auth/password-reset", json={"email": email})
        assert r.status_code == 202, r.get_data(as_text=True)
    link = mailed_link(mail, c.email, "Réinitialisation", "mot-de-passe/nouveau")
    assert link.startswith(f"http://127.0.0.1:{stack.port}/mot-de-passe/nouveau?token=")
    token = link.split("token=", 1)[1]
    problem(client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "faible"}), 422)
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "Nouveau2026(ok)"})
    assert r.status_code == 204, r.get_data(as_text=True)
    problem(client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "Encore2026ok"}), 400)
    problem(client.post("/api/v1/auth/login", json={"email": c.email, "password": PASSWORD}), 401)
    login(client, c.email, "Nouveau2026(ok)")
    assert mail.to(c.email, subject="mot de passe a été modifié")
    assert mail.to(unknown, wait_s=1) == []


def test_expired_reset_link_is_400(client, make_citizen, mail, stack):
    c = make_citizen("resetexp")
    client.post("/api/v1/auth/password-reset", json={"email": c.email})
    token = mailed_link(mail, c.email, "Réinitialisation", "mot-de-passe/nouveau").split("token=", 1)[1]
    expire_token(stack, token)
    problem(client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "Nouveau2026ok"}), 400)


def test_change_password_requires_the_current_one_and_is_announced(client, make_citizen, mail):
    c = make_citizen("chpw")
    body = problem(c.post("/api/v1/me/password", json={"current_password": "Faux2026pass", "new_password": "Nouveau2026ok"}), 422)
    assert "current_password" in body["errors"]
    r = c.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "Nouveau2026ok"})
    assert r.status_code == 200 and r.get_json()["refresh_token"]
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]}), 401)
    login(client, c.email, "Nouveau2026ok")
    assert mail.to(c.email, subject="mot de passe a été modifié")


def test_change_email_confirmed_from_the_new_address_old_one_told(client, make_citizen, mail):
    c = make_citizen("chmail")
    target = addr("nouvelle")
    r = c.post("/api/v1/me/email", json={"email": target})
    assert r.status_code == 202 and r.get_json()["pending_email"] == target
    assert c.get("/api/v1/me").get_json()["email"] == c.email
    token = mail.token(target, "adresse-electronique/confirmer")
    assert token
    r = client.post("/api/v1/accounts/email/confirm", json={"token": token})
    assert r.status_code == 200 and r.get_json()["email"] == target
    [told] = mail.to(c.email, subject="adresse électronique a été modifiée")
    assert target in mail.body(told)
    login(client, target, PASSWORD)


# --- profile ------------------------------------------------------------------------------

def test_patch_me_updates_and_validates_every_field(make_citizen):
    c = make_citizen("profile")
    changes = {
        "first_name": "Anne-Marie", "phone": "01 39 07 00 00",
        "addresses": [{"label": "Domicile", "street": "4 avenue de Paris", "postal_code": "78000", "city": "Versailles"}],
        "household": [{"first_name": "Léo", "last_name": "Martin", "birth_date": "2016-05-02", "relation": "enfant"}],
        "notification_prefs": {"email": False},
    }
    r = c.patch("/api/v1/me", json=changes)
    assert r.status_code == 200, r.get_data(as_text=True)
    me = c.get("/api/v1/me").get_json()
    assert me["first_name"] == "Anne-Marie" and me["phone"] == "01 39 07 00 00"
    assert me["addresses"][0]["city"] == "Versailles" and me["household"][0]["birth_date"] == "2016-05-02"
    assert me["notification_prefs"] == {"email": False}
    assert set(me) >= {"id", "email", "first_name", "last_name", "phone", "addresses", "household", "roles",
                       "notification_prefs"}
    # The whole document sent back with one change is accepted.
    assert c.patch("/api/v1/me", json=dict(me, last_name="Dupont")).get_json()["last_name"] == "Dupont"
    body = problem(c.patch("/api/v1/me", json={"phone": "abc", "addresses": [{"city": "Versailles"}],
                                              "household": [{"first_name": "Léo", "birth_date": "demain"}],
                                              "notification_prefs": {"email": "oui"}, "roles": ["admin"]}), 422)
    assert {"phone", "addresses[0].street", "addresses[0].postal_code", "household[0].birth_date",
            "household[0].relation", "notification_prefs.email", "roles"} <= set(body["errors"])
    problem(c.patch("/api/v1/me", data="[]", content_type="application/json"), 400)


def test_export_is_a_json_download_with_every_service(make_citizen):
    c = make_citizen("export")
    r = c.get("/api/v1/me/export")
    assert r.status_code == 200
    assert "attachment" in r.headers["Content-Disposition"]
    data = json.loads(r.get_data(as_text=True))
    assert data["identity"]["email"] == c.email
    assert {"demarches", "wallet", "notify"} <= set(data)
    assert "password" not in r.get_data(as_text=True).replace("password_", "")


def test_delete_me_then_login_fails(client, make_citizen):
    c = make_citizen("delete")
    r = c.delete("/api/v1/me")
    assert r.status_code == 204, r.get_data(as_text=True)
    problem(client.post("/api/v1/auth/login", json={"email": c.email, "password": c.password}), 401)
    problem(client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]}), 401)
    # The email is free: the person may come back later.
    assert register(client, c.email).status_code == 202


# --- associations, roles, keys ---------------------------------------------------------

def test_admin_creates_association_and_grants_rights(client, make_citizen, admin, agent):
    rep, viewer = make_citizen("rep"), make_citizen("viewer")
    rna = "W" + str(int.from_bytes(os.urandom(4), "big") % 10**9).zfill(9)
    problem(rep.post("/api/v1/backoffice/associations", json={"name": "Club", "rna": rna}), 403)
    problem(agent.post("/api/v1/backoffice/associations", json={"name": "Club", "rna": rna}), 403)
    problem(client.post("/api/v1/backoffice/associations", json={"name": "Club", "rna": rna}), 401)
    body = problem(admin.post("/api/v1/backoffice/associations", json={"name": "", "rna": "123"}), 422)
    assert set(body["errors"]) == {"name", "rna"}
    r = admin.post("/api/v1/backoffice/associations", json={"name": "Les Amis de Massy", "rna": rna})
    assert r.status_code == 201
    assoc_id = r.get_json()["id"]
    problem(admin.post("/api/v1/backoffice/associations", json={"name": "Doublon", "rna": rna}), 409)
    r = admin.post(f"/api/v1/backoffice/associations/{assoc_id}/members", json={"email": rep.email, "role": "representative"})
    assert r.status_code == 201, r.get_data(as_text=True)
    until = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    r = admin.post(f"/api/v1/backoffice/associations/{assoc_id}/members",
                   json={"email": viewer.email, "role": "viewer", "until": until})
    assert r.status_code == 201 and r.get_json()["until"] == until
    problem(admin.post(f"/api/v1/backoffice/associations/{assoc_id}/members", json={"email": viewer.email, "role": "chef"}), 422)
    problem(rep.post(f"/api/v1/backoffice/associations/{assoc_id}/members", json={"email": viewer.email, "role": "viewer"}), 403)
    mine = rep.get("/api/v1/me/associations").get_json()
    assert [{k: a[k] for k in ("id", "name", "role")} for a in mine] == [
        {"id": assoc_id, "name": "Les Amis de Massy", "role": "representative"}]
    members = admin.get(f"/api/v1/backoffice/associations/{assoc_id}/members").get_json()
    assert {m["email"]: m["role"] for m in members} == {rep.email: "representative", viewer.email: "viewer"}
    problem(viewer.get(f"/api/v1/backoffice/associations/{assoc_id}/members"), 403)
    assert viewer.delete(f"/api/v1/me/associations/{assoc_id}").status_code == 204
    assert viewer.get("/api/v1/me/associations").get_json() == []
    rep_id = rep.get("/api/v1/me").get_json()["id"]
    assert admin.delete(f"/api/v1/backoffice/associations/{assoc_id}/members/{rep_id}").status_code == 204
    assert rep.get("/api/v1/me/associations").get_json() == []
    problem(admin.get("/api/v1/backoffice/associations/inconnue"), 404)


def test_admin_makes_an_account_an_agent(client, make_citizen, admin):
    c = make_citizen("newagent")
    problem(c.post("/api/v1/backoffice/agents", json={"email": c.email}), 403)
    assert c.email not in {a["email"] for a in admin.get("/api/v1/backoffice/agents").get_json()}
    r = admin.post("/api/v1/backoffice/agents", json={"email": c.email})
    assert r.status_code == 200 and "agent" in r.get_json()["roles"]
    fresh = login(client, c.email, c.password)
    assert "agent" in fresh.get("/api/v1/me").get_json()["roles"]
    assert c.email in {a["email"] for a in fresh.get("/api/v1/backoffice/agents").get_json()}  # a colleague now
    assert "agent" not in admin.post("/api/v1/backoffice/agents/revoke", json={"email": c.email}).get_json()["roles"]
    assert c.email not in {a["email"] for a in admin.get("/api/v1/backoffice/agents").get_json()}


def test_key_rotation_logs_nobody_out(client, make_citizen, admin):
    c = make_citizen("rotate")
    old_kid = jwt.get_unverified_header(c.tokens["access_token"])["kid"]
    problem(c.post("/api/v1/backoffice/signing-keys/rotate"), 403)
    r = admin.post("/api/v1/backoffice/signing-keys/rotate")
    assert r.status_code == 200
    new_kid = r.get_json()["kid"]
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert {old_kid, new_kid} <= kids
    assert c.get("/api/v1/me").status_code == 200
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": c.tokens["refresh_token"]})
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer " + r.get_json()["access_token"]}).status_code == 200


def test_deletion_refused_while_a_demande_waits_then_allowed_and_every_service_purges(make_citizen, client, gateway_app):
    import io
    import time as _time

    from tests.demarches.helpers import pdf, submitted_acte

    c = make_citizen("delbusy")
    me = c.get("/api/v1/me").get_json()
    r = c.post("/api/v1/wallet/documents", data={"file": (io.BytesIO(pdf()), "rib.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data(as_text=True)
    did, _ = submitted_acte(c)
    body = problem(c.delete("/api/v1/me"), 409)
    assert "en attente" in body["detail"]
    assert c.get("/api/v1/me").status_code == 200  # nothing deleted
    assert c.post(f"/api/v1/demandes/{did}/cancel", json={}).status_code == 200
    assert c.delete("/api/v1/me").status_code == 204
    problem(client.post("/api/v1/auth/login", json={"email": c.email, "password": c.password}), 401)
    pool = gateway_app.extensions["rpc"]
    deadline = _time.monotonic() + 20
    while _time.monotonic() < deadline:
        wallet = pool.call("wallet", "export_personal_data", me["id"])
        notify = pool.call("notify", "export_personal_data", me["id"])
        if not wallet["documents"] and not notify["notifications"]:
            break
        _time.sleep(0.3)
    assert wallet["documents"] == [] and notify["notifications"] == []
