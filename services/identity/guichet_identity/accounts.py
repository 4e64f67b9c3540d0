"""Account use cases over identity's database (called by the service's entrypoints)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from guichet_common import events
from guichet_common.db import UnitOfWork
from sqlalchemy import delete, func, select

from . import domain, keys
from .exceptions import BadCredentials, InvalidAccountData, InvalidToken, LoginThrottled
from .models import Account, LoginFailure, OneTimeToken, RefreshToken

# argon2id (the library's default type) with its RFC 9106 "low memory" parameters.
hasher = PasswordHasher()
# Verified against when the account is unknown, so timing does not reveal whether it exists.
_DUMMY_HASH = hasher.hash("Dummy-password-1")

MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)


def now() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def account_view(acc: Account) -> dict[str, Any]:
    return {
        "id": acc.id, "email": acc.email, "first_name": acc.first_name, "last_name": acc.last_name,
        "phone": acc.phone, "addresses": acc.addresses or [], "household": acc.household or [],
        "roles": ["citizen", *[r for r in (acc.roles or []) if r != "citizen"]],
        "notification_prefs": {"email": True, **(acc.notification_prefs or {})},
    }


def _issue_one_time(uow: UnitOfWork, acc: Account, purpose: str, ttl_s: int,
                    data: dict[str, Any] | None = None) -> str:
    token, token_hash = domain.new_token()
    uow.session.add(OneTimeToken(token_hash=token_hash, account_id=acc.id, purpose=purpose,
                                 expires_at=now() + timedelta(seconds=ttl_s), data=data or {}))
    return token


def register(uow: UnitOfWork, base_url: str, email: Any, password: Any, first_name: Any,
             last_name: Any) -> None:
    errors: dict[str, list[str]] = {}
    try:
        email = domain.normalize_email(email)
    except ValueError as exc:
        errors["email"] = [str(exc)]
    problems = domain.password_problems(password)
    if problems:
        errors["password"] = problems
    names = {}
    for field, label in (("first_name", "prénom"), ("last_name", "nom")):
        try:
            names[field] = domain.clean_name({"first_name": first_name, "last_name": last_name}[field], label)
        except ValueError as exc:
            errors[field] = [str(exc)]
    if errors:
        raise InvalidAccountData("Le formulaire contient des erreurs.", errors=errors)
    s = uow.session
    acc = s.execute(select(Account).where(Account.email == email)).scalar_one_or_none()
    if acc is not None and acc.status == "pending" and aware(acc.created_at) < now() - timedelta(  # type: ignore[operator]
            seconds=domain.ACTIVATION_TTL_S):
        s.delete(acc)  # never activated in time: it does not exist any more
        s.flush()
        acc = None
    if acc is not None and acc.status == "active":
        # Same answer as for a new address; the owner is told instead (no enumeration).
        uow.emit(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, events.payload(
            account_id=acc.id, email=acc.email, first_name=acc.first_name,
            reset_url=f"{base_url}/mot-de-passe-oublie"))
        uow.commit()
        return
    if acc is None:
        acc = Account(id=uuid.uuid4().hex, email=email, status="pending", created_at=now(),
                      roles=[], addresses=[], household=[], notification_prefs={"email": True}, extra={})
        s.add(acc)
    acc.password_hash = hasher.hash(password)
    acc.first_name, acc.last_name = names["first_name"], names["last_name"]
    s.flush()
    token = _issue_one_time(uow, acc, "activation", domain.ACTIVATION_TTL_S)
    uow.emit(events.ACCOUNT_REGISTERED, events.payload(
        account_id=acc.id, email=acc.email, first_name=acc.first_name,
        activation_url=f"{base_url}/activation?token={token}", valid_hours=48))
    uow.commit()


def _consume(uow: UnitOfWork, token: Any, purpose: str) -> OneTimeToken:
    if not isinstance(token, str) or not token or len(token) > 200:
        raise InvalidToken()
    row = uow.session.get(OneTimeToken, domain.hash_token(token), with_for_update=True)
    if row is None or row.purpose != purpose or row.used_at is not None or aware(row.expires_at) < now():  # type: ignore[operator]
        raise InvalidToken()
    row.used_at = now()
    return row


def activate(uow: UnitOfWork, token: Any) -> dict[str, Any]:
    row = _consume(uow, token, "activation")
    acc = uow.session.get(Account, row.account_id)
    if acc is None or acc.status != "pending":
        raise InvalidToken()
    acc.status = "active"
    acc.activated_at = now()
    uow.emit(events.ACCOUNT_ACTIVATED, events.payload(account_id=acc.id, email=acc.email,
                                                      first_name=acc.first_name))
    uow.commit()
    return {"id": acc.id, "email": acc.email}


def purge_expired_pending(uow: UnitOfWork) -> int:
    cutoff = now() - timedelta(seconds=domain.ACTIVATION_TTL_S)
    result = uow.session.execute(delete(Account).where(Account.status == "pending",
                                                       Account.created_at < cutoff))
    uow.commit()
    return result.rowcount or 0  # type: ignore[attr-defined]


def _recent_client_failures(uow: UnitOfWork, client: str) -> int:
    return uow.session.execute(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.client == client, LoginFailure.at > now() - FAILURE_WINDOW)).scalar_one()


def login(uow: UnitOfWork, config: dict[str, Any], email: Any, password: Any,
          client: str = "") -> dict[str, Any]:
    client = (client or "unknown")[:64]
    if _recent_client_failures(uow, client) >= MAX_FAILURES_PER_CLIENT:
        raise LoginThrottled("Trop de tentatives de connexion depuis cette adresse. Réessayez dans 15 minutes.",
                             retry_after=int(FAILURE_WINDOW.total_seconds()))
    try:
        email = domain.normalize_email(email)
    except ValueError:
        email = None
    acc = None
    if email:
        acc = uow.session.execute(select(Account).where(Account.email == email)).scalar_one_or_none()
    if acc is not None and acc.locked_until and aware(acc.locked_until) > now():  # type: ignore[operator]
        wait = int((aware(acc.locked_until) - now()).total_seconds()) + 1  # type: ignore[operator]
        raise LoginThrottled(f"Compte temporairement bloqué après plusieurs échecs. Réessayez dans {wait // 60 + 1} minutes.",
                             retry_after=wait)
    ok = False
    try:
        ok = hasher.verify(acc.password_hash if acc and acc.password_hash else _DUMMY_HASH,
                           password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or acc is None or acc.status != "active":
        uow.session.add(LoginFailure(client=client, at=now()))
        if acc is not None and acc.status == "active":
            acc.failed_logins = (acc.failed_logins or 0) + 1
            if acc.failed_logins >= MAX_FAILURES_PER_ACCOUNT:
                acc.locked_until = now() + LOCK_DURATION
                acc.failed_logins = 0
                uow.emit(events.ACCOUNT_LOCKED, events.payload(
                    account_id=acc.id, email=acc.email, first_name=acc.first_name,
                    minutes=int(LOCK_DURATION.total_seconds() // 60),
                    reset_url=f"{config['BASE_URL']}/mot-de-passe-oublie"))
        uow.commit()
        raise BadCredentials()
    if hasher.check_needs_rehash(acc.password_hash or ""):
        acc.password_hash = hasher.hash(password)
    acc.failed_logins = 0
    acc.locked_until = None
    pair = _issue_pair(uow, config, acc, family=uuid.uuid4().hex)
    uow.commit()
    return pair


def _issue_pair(uow: UnitOfWork, config: dict[str, Any], acc: Account, family: str) -> dict[str, Any]:
    ttl = int(config.get("ACCESS_TOKEN_TTL", 900))
    view = account_view(acc)
    access = keys.issue_access_token(uow.session, {
        "sub": acc.id, "email": acc.email, "roles": view["roles"],
        "name": f"{acc.first_name} {acc.last_name}".strip()}, ttl)
    refresh, refresh_hash = domain.new_token()
    uow.session.add(RefreshToken(token_hash=refresh_hash, account_id=acc.id, family=family,
                                 expires_at=now() + timedelta(seconds=int(config.get("REFRESH_TOKEN_TTL", 30 * 86400)))))
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl}


def refresh(uow: UnitOfWork, config: dict[str, Any], refresh_token: Any) -> dict[str, Any]:
    if not isinstance(refresh_token, str) or not refresh_token:
        raise BadCredentials("Session invalide.")
    row = uow.session.get(RefreshToken, domain.hash_token(refresh_token), with_for_update=True)
    if row is None or row.revoked or aware(row.expires_at) < now():  # type: ignore[operator]
        raise BadCredentials("Session invalide.")
    if row.used_at is not None:
        # A refresh token used twice was stolen or replayed: end the whole chain.
        uow.session.query(RefreshToken).filter(RefreshToken.family == row.family).update({"revoked": True})
        uow.commit()
        raise BadCredentials("Session invalide.")
    row.used_at = now()
    acc = uow.session.get(Account, row.account_id)
    if acc is None or acc.status != "active":
        uow.commit()
        raise BadCredentials("Session invalide.")
    pair = _issue_pair(uow, config, acc, family=row.family)
    uow.commit()
    return pair


def logout(uow: UnitOfWork, refresh_token: Any) -> None:
    if not isinstance(refresh_token, str) or not refresh_token:
        return
    row = uow.session.get(RefreshToken, domain.hash_token(refresh_token))
    if row is not None:
        uow.session.query(RefreshToken).filter(RefreshToken.family == row.family).update({"revoked": True})
        uow.commit()


def ensure_staff(uow: UnitOfWork, email: str, password: str, first_name: str, last_name: str,
                 roles: list[str]) -> None:
    """Seed a staff account once (idempotent)."""
    email = domain.normalize_email(email)
    acc = uow.session.execute(select(Account).where(Account.email == email)).scalar_one_or_none()
    if acc is not None:
        return
    uow.session.add(Account(id=uuid.uuid4().hex, email=email, password_hash=hasher.hash(password),
                            first_name=first_name, last_name=last_name, status="active",
                            activated_at=now(), created_at=now(), roles=roles, addresses=[],
                            household=[], notification_prefs={"email": True}, extra={}))
    uow.commit()
