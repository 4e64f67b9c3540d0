"""The identity service in a real Nameko container, called through the real broker.

Its neighbours are small fakes (démarches, wallet, notify) so each rule is tested alone;
the events it emits are caught by a listener service. The environment (vhost, SQLite
databases) is this module's own, so brakes and purges touch nobody else's data.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from guichet_common import events
from guichet_common.db import make_engine
from guichet_common.errors import parse_remote
from guichet_common.rpc import ClusterRpcProxy, rpc
from guichet_common.testing.env import TestEnv
from guichet_identity import domain
from guichet_identity.models import Account, Membership, OneTimeToken, SigningKey
from guichet_identity.service import IdentityService
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.runners import ServiceRunner
from nameko.testing.services import entrypoint_hook
from sqlalchemy import update
from sqlalchemy.orm import Session

PASSWORD = "Versailles2026!"
SEEN: list[tuple[str, dict[str, Any]]] = []
BUSY: dict[str, int] = {}


def _listen(event_type: str) -> Any:
    @event_handler("identity", event_type)
    def handle(self: Any, payload: dict[str, Any]) -> None:
        SEEN.append((event_type, payload))
    return handle


class Listener:
    name = "identity_test_listener"
    registered = _listen(events.ACCOUNT_REGISTERED)
    known = _listen(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN)
    activated = _listen(events.ACCOUNT_ACTIVATED)
    locked = _listen(events.ACCOUNT_LOCKED)
    reset = _listen(events.PASSWORD_RESET_REQUESTED)
    changed = _listen(events.PASSWORD_CHANGED)
    email_requested = _listen(events.EMAIL_CHANGE_REQUESTED)
    email_changed = _listen(events.EMAIL_CHANGED)
    deleted = _listen(events.ACCOUNT_DELETED)
    contact_changed = _listen(events.CONTACT_CHANGED)


class FakeDemarches:
    name = "demarches"

    @rpc
    def count_in_progress(self, account_id: str) -> int:
        return BUSY.get(account_id, 0)

    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        return {"demandes": [{"account_id": account_id}]}


class FakeWallet:
    name = "wallet"

    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        return {"documents": []}


class FakeNotify:
    name = "notify"

    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        raise RuntimeError("notify is broken today")


@pytest.fixture(scope="module")
def env(s3_server: Any) -> Any:
    e = TestEnv("idb", s3_server, use_pg=False)
    e.migrate("identity")
    yield e
    e.close()


@pytest.fixture(scope="module")
def runner(env: TestEnv) -> Any:
    r = ServiceRunner(env.service_config("identity", KEY_ACTIVATION_DELAY=1))
    for cls in (IdentityService, Listener, FakeDemarches, FakeWallet, FakeNotify):
        r.add_service(cls)
    r.start()
    yield r
    r.kill()


@pytest.fixture(scope="module")
def svc(runner: Any, env: TestEnv) -> Any:
    with ClusterRpcProxy(env.service_config("identity"), timeout=30) as proxy:
        yield proxy.identity


@pytest.fixture(scope="module")
def db(env: TestEnv) -> Any:
    engine = make_engine(env.db_urls["identity"])
    yield engine
    engine.dispose()


def sql(db: Any, stmt: Any) -> None:
    with Session(db) as s:
        s.execute(stmt)
        s.commit()


def wait_event(event_type: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for kind, payload in SEEN:
            if kind == event_type and all(payload.get(k) == v for k, v in match.items()):
                return payload
        time.sleep(0.05)
    raise AssertionError(f"no {event_type} event matching {match}")


def events_of(event_type: str, **match: Any) -> list[dict[str, Any]]:
    return [p for k, p in SEEN if k == event_type and all(p.get(x) == v for x, v in match.items())]


def remote(fn: Any, *args: Any) -> dict[str, Any]:
    """The problem payload of a call expected to fail."""
    with pytest.raises(RemoteError) as info:
        fn(*args)
    data = parse_remote(info.value.value)
    assert data is not None, info.value
    return data


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


def new_email(tag: str = "u") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.fr"


def citizen(svc: Any, tag: str = "u", password: str = PASSWORD) -> tuple[str, dict[str, Any]]:
    addr = new_email(tag)
    svc.register(addr, password, "Anne", "Martin")
    url = wait_event(events.ACCOUNT_REGISTERED, email=addr)["activation_url"]
    svc.activate(token_of(url))
    return addr, svc.login(addr, password, "test-client")


def admin_pair(svc: Any) -> dict[str, Any]:
    return svc.login("admin@guichet.test", "AdminDemo2026!", "test-client")


# --- sign-up and activation -------------------------------------------------------------

def test_register_activate_login_and_single_use_link(svc):
    addr = new_email("reg")
    assert svc.register(addr, PASSWORD, "Anne", "Martin") == {"status": "pending"}
    payload = wait_event(events.ACCOUNT_REGISTERED, email=addr)
    assert payload["activation_url"].startswith("http://127.0.0.1:")
    assert payload["valid_hours"] == 48
    assert remote(svc.login, addr, PASSWORD, "c-reg")["kind"] == "unauthorized"  # not active yet
    token = token_of(payload["activation_url"])
    assert svc.activate(token)["email"] == addr
    assert remote(svc.activate, token)["kind"] == "bad_request"  # reused
    assert remote(svc.activate, "forged-token")["kind"] == "bad_request"  # unknown
    pair = svc.login(addr, PASSWORD, "c-reg")
    assert svc.get_me(pair["access_token"])["email"] == addr


@pytest.mark.parametrize("password, clause", [
    ("Abc12!", "8 caractères"), ("abcdefg1!", "majuscule"), ("ABCDEFG1!", "minuscule"),
    ("Abcdefgh!", "chiffre"), ("Abcdefg1~", "non accepté"),
])
def test_each_password_clause_is_refused_with_its_reason(svc, password, clause):
    data = remote(svc.register, new_email("pw"), password, "Anne", "Martin")
    assert data["kind"] == "invalid"
    assert any(clause in m for m in data["errors"]["password"])


def test_invalid_email_and_missing_names_are_field_errors(svc):
    data = remote(svc.register, "anne@localhost", PASSWORD, "", None)
    assert data["kind"] == "invalid"
    assert set(data["errors"]) == {"email", "first_name", "last_name"}


def test_known_email_answers_the_same_and_mails_the_owner(svc):
    addr, _ = citizen(svc, "known")
    before = len(events_of(events.ACCOUNT_REGISTERED, email=addr))
    assert svc.register(addr, "Other2026pass", "Mallory", "X") == {"status": "pending"}
    owner = wait_event(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, email=addr)
    assert owner["reset_url"].endswith("/mot-de-passe-oublie")
    assert len(events_of(events.ACCOUNT_REGISTERED, email=addr)) == before  # no new activation link
    svc.login(addr, PASSWORD, "c-known")  # the password did not change


def test_expired_activation_link_is_refused(svc, db):
    addr = new_email("exp")
    svc.register(addr, PASSWORD, "Anne", "Martin")
    token = token_of(wait_event(events.ACCOUNT_REGISTERED, email=addr)["activation_url"])
    sql(db, update(OneTimeToken).where(OneTimeToken.token_hash == domain.hash_token(token))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert remote(svc.activate, token)["kind"] == "bad_request"


def test_account_not_activated_within_48_hours_is_purged_by_the_timer(svc, runner, db):
    addr = new_email("purge")
    svc.register(addr, PASSWORD, "Anne", "Martin")
    old = token_of(wait_event(events.ACCOUNT_REGISTERED, email=addr)["activation_url"])
    sql(db, update(Account).where(Account.email == addr).values(created_at=datetime.now(UTC) - timedelta(hours=49)))
    container = next(c for c in runner.containers if c.service_name == "identity")
    with entrypoint_hook(container, "purge_expired_pending") as purge:
        purge()
    with Session(db) as s:
        assert s.query(Account).filter_by(email=addr).count() == 0
    assert remote(svc.activate, old)["kind"] == "bad_request"
    # The email is free again: a new sign-up works from the start.
    svc.register(addr, PASSWORD, "Anne", "Martin")
    deadline = time.monotonic() + 10
    while len(events_of(events.ACCOUNT_REGISTERED, email=addr)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(events_of(events.ACCOUNT_REGISTERED, email=addr)) == 2
    fresh = token_of(events_of(events.ACCOUNT_REGISTERED, email=addr)[-1]["activation_url"])
    assert svc.activate(fresh)["email"] == addr


# --- sessions and tokens ---------------------------------------------------------------

def test_refresh_rotates_and_reuse_revokes_the_whole_chain(svc):
    _, pair = citizen(svc, "refresh")
    second = svc.refresh(pair["refresh_token"])
    third = svc.refresh(second["refresh_token"])
    assert third["access_token"] != second["access_token"]
    assert remote(svc.refresh, pair["refresh_token"])["kind"] == "unauthorized"  # replayed
    assert remote(svc.refresh, third["refresh_token"])["kind"] == "unauthorized"  # chain revoked


def test_logout_ends_the_refresh_token(svc):
    _, pair = citizen(svc, "logout")
    svc.logout(pair["refresh_token"])
    assert remote(svc.refresh, pair["refresh_token"])["kind"] == "unauthorized"


def _claims(pair: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(pair["access_token"], options={"verify_signature": False})


def test_forged_access_tokens_are_refused(svc, db):
    _, pair = citizen(svc, "forge")
    good = pair["access_token"]
    header = jwt.get_unverified_header(good)
    claims = _claims(pair)
    # alg=none
    none_token = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})  # type: ignore[arg-type]
    # tampered payload (roles), original signature kept
    h, p, sig = good.split(".")
    forged_claims = dict(claims, roles=["citizen", "admin"])
    p2 = jwt.utils.base64url_encode(json.dumps(forged_claims).encode()).decode()
    tampered = f"{h}.{p2}.{sig}"
    # signed by another key under the same kid
    wrong_key = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]})
    # expired, signed by the real key
    with Session(db) as s:
        pem = s.get(SigningKey, header["kid"]).private_pem
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    expired = jwt.encode(dict(claims, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), key,
                         algorithm="EdDSA", headers={"kid": header["kid"]})
    for bad in (none_token, tampered, wrong_key, expired, "not.a.jwt", ""):
        assert remote(svc.get_me, bad)["kind"] == "unauthorized", bad
    assert svc.get_me(good)["id"] == claims["sub"]


def test_brute_force_locks_the_account_and_mails_the_owner(svc):
    addr, _ = citizen(svc, "brute")
    for _ in range(4):
        assert remote(svc.login, addr, "Wrong2026pass", f"c-{addr}")["kind"] == "unauthorized"
    assert remote(svc.login, addr, "Wrong2026pass", f"c-{addr}")["kind"] == "unauthorized"  # 5th: locks
    locked = wait_event(events.ACCOUNT_LOCKED, email=addr)
    assert locked["minutes"] == 15 and locked["reset_url"]
    data = remote(svc.login, addr, PASSWORD, f"c-{addr}")  # even the right password waits
    assert data["kind"] == "too_many"
    assert 0 < data["extra"]["retry_after"] <= 15 * 60 + 1
    assert "minutes" in data["detail"]


def test_brute_force_from_one_client_is_braked(svc):
    client = f"10.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    for i in range(20):
        assert remote(svc.login, new_email(f"nobody{i}"), "Wrong2026pass", client)["kind"] == "unauthorized"
    addr, _ = citizen(svc, "victim")
    data = remote(svc.login, addr, PASSWORD, client)
    assert data["kind"] == "too_many" and data["extra"]["retry_after"] > 0
    svc.login(addr, PASSWORD, "another-client")  # other clients are not affected


# --- password reset and change -------------------------------------------------------

def test_password_reset_round_trip(svc):
    addr, pair = citizen(svc, "reset")
    assert svc.request_password_reset("nobody-" + addr) == {"status": "accepted"}  # same answer
    assert svc.request_password_reset(addr) == {"status": "accepted"}
    link = wait_event(events.PASSWORD_RESET_REQUESTED, email=addr)["reset_url"]
    assert "/mot-de-passe/nouveau?token=" in link
    token = token_of(link)
    data = remote(svc.confirm_password_reset, token, "weak")
    assert data["kind"] == "invalid" and "password" in data["errors"]
    svc.confirm_password_reset(token, "Nouveau2026(ok)")  # the typo did not burn the link
    assert remote(svc.confirm_password_reset, token, "Encore2026ok")["kind"] == "bad_request"  # single use
    assert remote(svc.login, addr, PASSWORD, "c-reset")["kind"] == "unauthorized"
    svc.login(addr, "Nouveau2026(ok)", "c-reset")
    assert remote(svc.refresh, pair["refresh_token"])["kind"] == "unauthorized"  # old sessions ended
    wait_event(events.PASSWORD_CHANGED, email=addr)
    assert not events_of(events.PASSWORD_RESET_REQUESTED, email="nobody-" + addr)


def test_expired_reset_link_is_refused(svc, db):
    addr, _ = citizen(svc, "resetexp")
    svc.request_password_reset(addr)
    token = token_of(wait_event(events.PASSWORD_RESET_REQUESTED, email=addr)["reset_url"])
    sql(db, update(OneTimeToken).where(OneTimeToken.token_hash == domain.hash_token(token))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert remote(svc.confirm_password_reset, token, "Nouveau2026ok")["kind"] == "bad_request"


def test_change_password_needs_the_current_one(svc):
    addr, pair = citizen(svc, "chpw")
    data = remote(svc.change_password, pair["access_token"], "Wrong2026pass", "Nouveau2026ok")
    assert data["kind"] == "invalid" and "current_password" in data["errors"]
    data = remote(svc.change_password, pair["access_token"], PASSWORD, "nouveau")
    assert "new_password" in data["errors"]
    fresh = svc.change_password(pair["access_token"], PASSWORD, "Nouveau2026ok")
    assert fresh["token_type"] == "Bearer"
    assert remote(svc.refresh, pair["refresh_token"])["kind"] == "unauthorized"
    svc.refresh(fresh["refresh_token"])
    svc.login(addr, "Nouveau2026ok", "c-chpw")
    assert wait_event(events.PASSWORD_CHANGED, email=addr)["first_name"] == "Anne"


def test_email_change_is_confirmed_from_the_new_address_and_told_to_the_old(svc):
    addr, pair = citizen(svc, "chmail")
    target = new_email("newaddr")
    view = svc.request_email_change(pair["access_token"], target)
    assert view["email"] == addr and view["pending_email"] == target
    link = wait_event(events.EMAIL_CHANGE_REQUESTED, email=target)["confirm_url"]
    assert svc.get_me(pair["access_token"])["email"] == addr  # nothing changes before confirmation
    assert svc.confirm_email_change(token_of(link))["email"] == target
    assert remote(svc.confirm_email_change, token_of(link))["kind"] == "bad_request"
    told = wait_event(events.EMAIL_CHANGED, email=addr)
    assert told["new_email"] == target
    svc.login(target, PASSWORD, "c-chmail")
    assert remote(svc.login, addr, PASSWORD, "c-chmail")["kind"] == "unauthorized"
    me = svc.get_me(pair["access_token"])
    assert me["email"] == target and me["pending_email"] is None
    # notify's copy: the activation's contact (version 1), then the new address (version 2)
    assert wait_event(events.CONTACT_CHANGED, account_id=me["id"], version=1)["email"] == addr
    assert wait_event(events.CONTACT_CHANGED, account_id=me["id"], version=2)["email"] == target
    assert svc.contact(me["id"])["version"] == 2


def test_email_change_to_a_taken_address_sends_nothing(svc):
    other, _ = citizen(svc, "taken")
    _, pair = citizen(svc, "taker")
    svc.request_email_change(pair["access_token"], other)
    time.sleep(0.5)
    assert not events_of(events.EMAIL_CHANGE_REQUESTED, email=other)


# --- profile ------------------------------------------------------------------------------

def test_update_me_validates_and_applies(svc):
    _, pair = citizen(svc, "profile")
    token = pair["access_token"]
    me = svc.update_me(token, {
        "phone": "06 12 34 56 78", "first_name": "Anne-Marie",
        "addresses": [{"label": "Domicile", "street": "1 rue de la Paroisse", "postal_code": "78000", "city": "Versailles"}],
        "household": [{"first_name": "Léo", "last_name": "Martin", "birth_date": "2015-03-21", "relation": "enfant"}],
        "notification_prefs": {"email": False},
    })
    assert me["phone"] == "06 12 34 56 78" and me["first_name"] == "Anne-Marie"
    assert me["household"][0]["relation"] == "enfant"
    assert me["notification_prefs"] == {"email": False}
    data = remote(svc.update_me, token, {"phone": "12", "household": [{"first_name": "X"}], "roles": ["admin"]})
    assert data["kind"] == "invalid"
    assert {"phone", "household[0].last_name", "household[0].birth_date", "household[0].relation", "roles"} <= set(data["errors"])
    assert svc.get_me(token)["phone"] == "06 12 34 56 78"  # nothing applied from a bad request
    profile = svc.profile(me["id"])
    assert profile["addresses"][0]["city"] == "Versailles"
    assert svc.contact(me["id"]) == {"email": me["email"], "notification_prefs": {"email": False}, "version": 2}
    told = wait_event(events.CONTACT_CHANGED, account_id=me["id"], version=2)
    assert told["notification_prefs"] == {"email": False}
    svc.update_me(token, {"phone": "06 12 34 56 79"})  # not a contact change: no event, same version
    assert svc.contact(me["id"])["version"] == 2
    assert svc.profile("unknown") is None


# --- export and deletion -------------------------------------------------------------------

def test_export_gathers_every_service_and_reports_a_failing_one(svc):
    addr, pair = citizen(svc, "export")
    data = svc.export_me(pair["access_token"])
    assert data["identity"]["email"] == addr
    assert "password_hash" not in json.dumps(data)
    assert data["demarches"] == {"demandes": [{"account_id": data["identity"]["id"]}]}
    assert data["wallet"] == {"documents": []}
    assert "erreur" in data["notify"]


def test_deletion_is_refused_while_a_demande_is_in_progress_then_allowed(svc):
    addr, pair = citizen(svc, "delete")
    me = svc.get_me(pair["access_token"])
    BUSY[me["id"]] = 2
    data = remote(svc.delete_me, pair["access_token"])
    assert data["kind"] == "conflict" and "2 demandes" in data["detail"]
    BUSY[me["id"]] = 0
    svc.delete_me(pair["access_token"])
    assert wait_event(events.ACCOUNT_DELETED, account_id=me["id"])["event_id"]
    assert remote(svc.login, addr, PASSWORD, "c-del")["kind"] == "unauthorized"
    assert remote(svc.refresh, pair["refresh_token"])["kind"] == "unauthorized"
    assert svc.contact(me["id"]) is None
    assert remote(svc.get_me, pair["access_token"])["kind"] == "not_found"


# --- associations and roles -------------------------------------------------------------

def test_associations_rights_and_their_end_date(svc, db):
    admin = admin_pair(svc)["access_token"]
    rep_addr, rep = citizen(svc, "rep")
    view_addr, viewer = citizen(svc, "viewer")
    rna = f"W{uuid.uuid4().int % 10**9:09d}"
    assert remote(svc.create_association, rep["access_token"], "Club", rna)["kind"] == "forbidden"
    assert set(remote(svc.create_association, admin, "", "123")["errors"]) == {"name", "rna"}
    assoc = svc.create_association(admin, "Club de l'Yvette", rna.lower())
    assert assoc["rna"] == rna
    assert remote(svc.create_association, admin, "Autre", rna)["kind"] == "conflict"
    rep_id = svc.get_me(rep["access_token"])["id"]
    view_id = svc.get_me(viewer["access_token"])["id"]
    assert svc.grant_member(admin, assoc["id"], rep_addr, "representative")["role"] == "representative"
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert svc.grant_member(admin, assoc["id"], view_addr, "viewer", tomorrow)["until"] == tomorrow
    bad = remote(svc.grant_member, admin, assoc["id"], new_email("ghost"), "boss", "2000-01-01")
    assert set(bad["errors"]) == {"email", "role", "until"}
    assert remote(svc.grant_member, rep["access_token"], assoc["id"], view_addr, "viewer")["kind"] == "forbidden"
    assert remote(svc.grant_member, admin, "nope", view_addr, "viewer")["kind"] == "not_found"
    assert svc.association_role(rep_id, assoc["id"]) == "representative"
    assert svc.association_role(view_id, assoc["id"]) == "viewer"
    assert svc.association_role(view_id, "nope") is None
    assert svc.list_my_associations(viewer["access_token"]) == [
        {"id": assoc["id"], "name": "Club de l'Yvette", "role": "viewer", "rna": rna, "until": tomorrow}]
    members = svc.list_members(admin, assoc["id"])
    assert {m["email"] for m in members} == {rep_addr, view_addr}
    assert remote(svc.list_members, viewer["access_token"], assoc["id"])["kind"] == "forbidden"
    # The right lapses by itself after its end date.
    sql(db, update(Membership).where(Membership.account_id == view_id).values(until=date.today() - timedelta(days=1)))
    assert svc.association_role(view_id, assoc["id"]) is None
    assert svc.list_my_associations(viewer["access_token"]) == []
    # A member leaves; an admin revokes.
    svc.leave_association(rep["access_token"], assoc["id"])
    assert svc.association_role(rep_id, assoc["id"]) is None
    assert remote(svc.leave_association, rep["access_token"], assoc["id"])["kind"] == "not_found"
    svc.revoke_member(admin, assoc["id"], view_id)
    assert svc.list_members(admin, assoc["id"]) == []
    assert any(a["id"] == assoc["id"] for a in svc.list_associations(admin))


def test_admin_makes_an_account_an_agent(svc):
    admin = admin_pair(svc)["access_token"]
    addr, pair = citizen(svc, "agent")
    assert remote(svc.set_agent, pair["access_token"], addr, True)["kind"] == "forbidden"
    agent = svc.login("agent@guichet.test", "AgentDemo2026!", "c-agent")
    assert remote(svc.set_agent, agent["access_token"], addr, True)["kind"] == "forbidden"  # agents are not admins
    assert "agent" in svc.set_agent(admin, addr, True)["roles"]
    fresh = svc.refresh(pair["refresh_token"])  # the next token carries the role
    assert "agent" in _claims(fresh)["roles"]
    assert "agent" not in svc.set_agent(admin, addr, False)["roles"]
    assert remote(svc.set_agent, admin, "admin@guichet.test", False)["kind"] == "invalid"


def test_key_rotation_keeps_sessions_open(svc):
    admin = admin_pair(svc)["access_token"]
    _, pair = citizen(svc, "rotate")
    old_kid = jwt.get_unverified_header(pair["access_token"])["kid"]
    assert remote(svc.rotate_signing_key, pair["access_token"])["kind"] == "forbidden"
    new_kid = svc.rotate_signing_key(admin)["kid"]
    assert new_kid != old_kid
    assert {k["kid"] for k in svc.jwks()["keys"]} >= {old_kid, new_kid}
    assert svc.get_me(pair["access_token"])["email"]  # signed by the older key: still valid
    # Published first, the new key signs only after the activation delay (1 s here).
    during = svc.refresh(pair["refresh_token"])
    assert jwt.get_unverified_header(during["access_token"])["kid"] == old_kid
    time.sleep(1.2)
    fresh = svc.refresh(during["refresh_token"])
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid
    assert svc.get_me(pair["access_token"])["email"]
    assert svc.get_me(fresh["access_token"])["email"]


# --- FranceConnect -----------------------------------------------------------------------

def test_franceconnect_claims_create_link_and_activate(svc):
    # A new person: the account is created from the identity claims, active at once.
    addr = new_email("fc")
    sub = uuid.uuid4().hex
    pair = svc.login_franceconnect({"sub": sub, "given_name": "Angela Claire", "family_name": "Dubois", "email": addr,
                                    "birthdate": "1962-08-24"})
    me = svc.get_me(pair["access_token"])
    assert (me["email"], me["first_name"], me["last_name"], me["franceconnect"]) == (addr, "Angela", "Dubois", True)
    again = svc.login_franceconnect({"sub": sub, "email": "changed-" + addr})
    assert svc.get_me(again["access_token"])["id"] == me["id"]
    # A pending sign-up with the same address is activated and linked (the provider vouches for it).
    pending = new_email("fcpending")
    svc.register(pending, PASSWORD, "Paul", "Durand")
    linked = svc.login_franceconnect({"sub": uuid.uuid4().hex, "email": pending, "given_name": "Paul", "family_name": "Durand"})
    assert svc.get_me(linked["access_token"])["email"] == pending
    svc.login(pending, PASSWORD, "c-fc")  # the password chosen at sign-up works too
    # Incomplete or unverified claims never sign anyone in.
    assert remote(svc.login_franceconnect, {"email": addr})["kind"] == "bad_request"
    assert remote(svc.login_franceconnect, {"sub": uuid.uuid4().hex})["kind"] == "invalid"
    assert remote(svc.login_franceconnect, {"sub": uuid.uuid4().hex, "email": pending,
                                            "email_verified": False})["kind"] == "conflict"


def test_wrong_current_passwords_lock_the_account_too(svc):
    addr, pair = citizen(svc, "chpwlock")
    for _ in range(5):
        assert remote(svc.change_password, pair["access_token"], "Wrong2026pass", "Nouveau2026ok")["kind"] == "invalid"
    assert remote(svc.change_password, pair["access_token"], PASSWORD, "Nouveau2026ok")["kind"] == "too_many"
    assert remote(svc.login, addr, PASSWORD, "c-chpwlock")["kind"] == "too_many"
    wait_event(events.ACCOUNT_LOCKED, email=addr)


def test_email_case_does_not_make_two_accounts(svc):
    addr = new_email("Anne.Casse")
    svc.register(addr, PASSWORD, "Anne", "Martin")
    url = wait_event(events.ACCOUNT_REGISTERED, email=addr.lower())["activation_url"]
    svc.activate(token_of(url))
    svc.login(addr.upper(), PASSWORD, "c-case")
    svc.register(addr.lower(), PASSWORD, "Anne", "Martin")
    wait_event(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, email=addr.lower())


def test_only_failures_close_together_lock(svc, db):
    addr, _ = citizen(svc, "slowtypo")
    for _ in range(4):
        remote(svc.login, addr, "Wrong2026pass", f"c-{addr}")
    # The four typos were long ago: the next failures start a new count.
    sql(db, update(Account).where(Account.email == addr).values(last_failed_at=datetime.now(UTC) - timedelta(hours=1)))
    for _ in range(4):
        assert remote(svc.login, addr, "Wrong2026pass", f"c-{addr}")["kind"] == "unauthorized"
    svc.login(addr, PASSWORD, f"c-{addr}")
