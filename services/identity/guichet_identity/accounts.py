"""Account use cases over identity's database (called by the service's entrypoints)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from guichet_common import events
from guichet_common.auth import STAFF_ROLES
from guichet_common.db import UnitOfWork, as_utc, utcnow
from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.exc import IntegrityError

from . import domain, keys
from .exceptions import AccountBusy, AccountNotFound, BadCredentials, InvalidAccountData, InvalidToken, LoginThrottled
from .models import Account, LoginFailure, OneTimeToken, RefreshToken

# argon2id (the library's default type) with its RFC 9106 "low memory" parameters.
hasher = PasswordHasher()


def offload(fn: Any, *args: Any) -> Any:
    """Run a CPU-heavy call (argon2: tens of ms) in a real OS thread when inside an eventlet
    (Nameko) worker, so the service keeps answering other requests meanwhile; argon2 releases
    the GIL, so several sign-ins also use several cores."""
    try:
        from eventlet import patcher, tpool
    except ImportError:  # pragma: no cover - plain scripts
        return fn(*args)
    if patcher.is_monkey_patched("thread"):
        return tpool.execute(fn, *args)
    return fn(*args)


def hash_password(password: str) -> str:
    return offload(hasher.hash, password)  # type: ignore[no-any-return]


def verify_password(stored: str, password: str) -> bool:
    try:
        return bool(offload(hasher.verify, stored, password))
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the account is unknown, so timing does not reveal whether it exists.
_DUMMY_HASH = hasher.hash("Dummy-password-1")

MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)


def key_delay(config: dict[str, Any]) -> float:
    """Seconds a new signing key is published before it signs (longer than verifiers' refresh)."""
    return float(config.get("KEY_ACTIVATION_DELAY", 15))


now = utcnow
aware = as_utc


def account_view(acc: Account) -> dict[str, Any]:
    extra = acc.extra or {}
    return {
        "id": acc.id, "email": acc.email, "first_name": acc.first_name, "last_name": acc.last_name,
        "phone": acc.phone, "addresses": acc.addresses or [], "household": acc.household or [],
        "contacts": extra.get("contacts", []),
        "roles": ["citizen", *[r for r in (acc.roles or []) if r != "citizen"]],
        "notification_prefs": {"email": True, **(acc.notification_prefs or {})},
        "pending_email": extra.get("pending_email"),
        "franceconnect": bool(extra.get("fc_sub")),
    }


def contact_view(acc: Account) -> dict[str, Any]:
    """What notify needs to write to an account, with the version that orders the copies."""
    return {"email": acc.email, "notification_prefs": {"email": True, **(acc.notification_prefs or {})},
            "version": acc.contact_version or 0}


def _contact_changed(uow: UnitOfWork, acc: Account) -> None:
    """Tell notify where and whether to write to this account from now on (its own copy
    spares an RPC to identity for every notification)."""
    acc.contact_version = (acc.contact_version or 0) + 1
    uow.emit(events.CONTACT_CHANGED, events.payload(account_id=acc.id, **contact_view(acc)))


def active_account(uow: UnitOfWork, account_id: str) -> Account:
    acc = uow.session.get(Account, account_id)
    if acc is None or acc.status != "active":
        raise AccountNotFound()
    return acc


def by_email(uow: UnitOfWork, email: str) -> Account | None:
    return uow.session.execute(select(Account).where(Account.email == email)).scalar_one_or_none()


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
        # Same answer as for a new address; the owner is told instead (no enumeration), and
        # the same argon2 work is done so the answer takes as long.
        hash_password(password)
        uow.emit(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, events.payload(
            account_id=acc.id, email=acc.email, first_name=acc.first_name,
            reset_url=f"{base_url}/mot-de-passe-oublie"))
        uow.commit()
        return
    if acc is None:
        acc = Account(id=uuid.uuid4().hex, email=email, status="pending", created_at=now(),
                      roles=[], addresses=[], household=[], notification_prefs={"email": True}, extra={})
        s.add(acc)
    acc.password_hash = hash_password(password)
    acc.first_name, acc.last_name = names["first_name"], names["last_name"]
    try:
        s.flush()
    except IntegrityError:
        # The same address sent twice at once (a double click): the other request carries on.
        uow.rollback()
        return
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
    _contact_changed(uow, acc)
    uow.commit()
    return {"id": acc.id, "email": acc.email}


def purge_expired_pending(uow: UnitOfWork) -> int:
    """Accounts never activated within 48 hours cease to exist (their email is free again);
    spent tokens and old sign-in failures go too."""
    cutoff = now() - timedelta(seconds=domain.ACTIVATION_TTL_S)
    result = uow.session.execute(delete(Account).where(Account.status == "pending",
                                                       Account.created_at < cutoff))
    uow.session.execute(delete(OneTimeToken).where(OneTimeToken.expires_at < now() - timedelta(days=1)))
    uow.session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now()))
    uow.session.execute(delete(LoginFailure).where(LoginFailure.at < now() - FAILURE_WINDOW))
    uow.commit()
    return result.rowcount or 0  # type: ignore[attr-defined]


def _client_brake(uow: UnitOfWork, client: str) -> int:
    """Seconds this client must wait before trying again (0 when it may try now)."""
    since = now() - FAILURE_WINDOW
    count, oldest = uow.session.execute(select(func.count(), func.min(LoginFailure.at)).where(
        LoginFailure.client == client, LoginFailure.at > since)).one()
    if count < MAX_FAILURES_PER_CLIENT:
        return 0
    return max(1, int((aware(oldest) + FAILURE_WINDOW - now()).total_seconds()) + 1)  # type: ignore[operator]


def _refuse_if_locked(acc: Account) -> None:
    if acc.locked_until and aware(acc.locked_until) > now():  # type: ignore[operator]
        wait = int((aware(acc.locked_until) - now()).total_seconds()) + 1  # type: ignore[operator]
        raise LoginThrottled(f"Compte temporairement bloqué après plusieurs échecs. Réessayez dans {wait // 60 + 1} minutes.",
                             retry_after=wait)


def _record_failure(uow: UnitOfWork, config: dict[str, Any], acc: Account) -> None:
    """One more wrong password for this account; the fifth locks it and the owner is told."""
    if acc.last_failed_at is None or aware(acc.last_failed_at) < now() - FAILURE_WINDOW:  # type: ignore[operator]
        acc.failed_logins = 0  # only failures close together count: old typos are forgotten
    acc.failed_logins = (acc.failed_logins or 0) + 1
    acc.last_failed_at = now()
    if acc.failed_logins >= MAX_FAILURES_PER_ACCOUNT:
        acc.locked_until = now() + LOCK_DURATION
        acc.failed_logins = 0
        uow.emit(events.ACCOUNT_LOCKED, events.payload(
            account_id=acc.id, email=acc.email, first_name=acc.first_name,
            minutes=int(LOCK_DURATION.total_seconds() // 60),
            reset_url=f"{config['BASE_URL']}/mot-de-passe-oublie"))


def login(uow: UnitOfWork, config: dict[str, Any], email: Any, password: Any,
          client: str = "") -> dict[str, Any]:
    client = (client or "unknown")[:64]
    wait = _client_brake(uow, client)
    if wait:
        raise LoginThrottled("Trop de tentatives de connexion depuis cette adresse. "
                             f"Réessayez dans {wait // 60 + 1} minutes.", retry_after=wait)
    try:
        email = domain.normalize_email(email)
    except ValueError:
        email = None
    acc = None
    if email:
        acc = uow.session.execute(select(Account).where(Account.email == email)).scalar_one_or_none()
    if acc is not None:
        _refuse_if_locked(acc)
    ok = verify_password(acc.password_hash if acc and acc.password_hash else _DUMMY_HASH,
                         password if isinstance(password, str) else "")
    if not ok or acc is None or acc.status != "active":
        uow.session.add(LoginFailure(client=client, at=now()))
        if acc is not None and acc.status == "active":
            _record_failure(uow, config, acc)
        uow.commit()
        raise BadCredentials()
    if hasher.check_needs_rehash(acc.password_hash or ""):
        acc.password_hash = hash_password(password)
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
        "name": f"{acc.first_name} {acc.last_name}".strip()}, ttl, key_delay(config))
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


# --- profile --------------------------------------------------------------------------

def update_me(uow: UnitOfWork, base_url: str, account_id: str, changes: Any) -> dict[str, Any]:
    """PATCH /me: every field validated; an email change is only requested (confirmed from
    the new address), everything else applies at once."""
    acc = active_account(uow, account_id)
    clean, errors = domain.clean_profile_changes(changes, account_view(acc), now().date())
    if errors:
        raise InvalidAccountData("Le profil contient des erreurs.", errors=errors)
    new_email = clean.pop("email", None)
    for field in ("first_name", "last_name", "phone", "addresses", "household", "notification_prefs"):
        if field in clean:
            setattr(acc, field, clean[field])
    if "notification_prefs" in clean:
        _contact_changed(uow, acc)
    if "contacts" in clean:
        acc.extra = {**(acc.extra or {}), "contacts": clean["contacts"]}  # new dict: JSON columns track assignment
    if new_email:
        _request_email_change(uow, base_url, acc, new_email)
    uow.commit()
    return account_view(acc)


def request_email_change(uow: UnitOfWork, base_url: str, account_id: str, new_email: Any) -> dict[str, Any]:
    acc = active_account(uow, account_id)
    try:
        email = domain.normalize_email(new_email)
    except ValueError as exc:
        raise InvalidAccountData("L'adresse électronique n'est pas valide.", errors={"email": [str(exc)]}) from None
    if email == acc.email:
        raise InvalidAccountData("C'est déjà votre adresse.", errors={"email": ["C'est déjà l'adresse de votre compte."]})
    _request_email_change(uow, base_url, acc, email)
    uow.commit()
    return account_view(acc)


def _request_email_change(uow: UnitOfWork, base_url: str, acc: Account, email: str) -> None:
    acc.extra = {**(acc.extra or {}), "pending_email": email}
    if by_email(uow, email) is not None:
        # Taken: no confirmation link is sent, and the answer is the same (no enumeration);
        # confirmation would fail anyway.
        return
    token = _issue_one_time(uow, acc, "email_change", domain.EMAIL_CHANGE_TTL_S, {"new_email": email})
    uow.emit(events.EMAIL_CHANGE_REQUESTED, events.payload(
        account_id=acc.id, email=email, first_name=acc.first_name,
        confirm_url=f"{base_url}/adresse-electronique/confirmer?token={token}"))


def confirm_email_change(uow: UnitOfWork, token: Any) -> dict[str, Any]:
    row = _consume(uow, token, "email_change")
    acc = uow.session.get(Account, row.account_id)
    new_email = (row.data or {}).get("new_email")
    if acc is None or acc.status != "active" or not new_email:
        raise InvalidToken()
    if by_email(uow, new_email) is not None:
        raise InvalidToken("Cette adresse est déjà utilisée par un autre compte.")
    old = acc.email
    acc.email = new_email
    acc.extra = {k: v for k, v in (acc.extra or {}).items() if k != "pending_email"}
    # The old address hears of the change (it may be the only one the owner still reads).
    uow.emit(events.EMAIL_CHANGED, events.payload(account_id=acc.id, email=old, new_email=new_email,
                                                  first_name=acc.first_name))
    _contact_changed(uow, acc)
    uow.commit()
    return {"id": acc.id, "email": new_email}


# --- passwords ------------------------------------------------------------------------

def _check_new_password(password: Any, field: str = "password") -> None:
    problems = domain.password_problems(password)
    if problems:
        raise InvalidAccountData("Le mot de passe ne respecte pas les règles.", errors={field: problems})


def request_password_reset(uow: UnitOfWork, base_url: str, email: Any) -> None:
    """Always the same answer; a link goes out only to an active account (and not more than
    three live links at once, so nobody can flood a mailbox)."""
    try:
        email = domain.normalize_email(email)
    except ValueError:
        return
    acc = by_email(uow, email)
    if acc is None or acc.status != "active":
        return
    live = uow.session.execute(select(func.count()).select_from(OneTimeToken).where(
        OneTimeToken.account_id == acc.id, OneTimeToken.purpose == "reset",
        OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > now())).scalar_one()
    if live >= 3:
        return
    token = _issue_one_time(uow, acc, "reset", domain.RESET_TTL_S)
    uow.emit(events.PASSWORD_RESET_REQUESTED, events.payload(
        account_id=acc.id, email=acc.email, first_name=acc.first_name,
        reset_url=f"{base_url}/mot-de-passe/nouveau?token={token}",
        valid_minutes=domain.RESET_TTL_S // 60))
    uow.commit()


def _set_password(uow: UnitOfWork, base_url: str, acc: Account, password: str) -> None:
    acc.password_hash = hash_password(password)
    acc.failed_logins = 0
    acc.locked_until = None
    # Every session and every other reset link ends with the old password.
    uow.session.query(RefreshToken).filter(RefreshToken.account_id == acc.id).update({"revoked": True})
    uow.session.query(OneTimeToken).filter(OneTimeToken.account_id == acc.id, OneTimeToken.purpose == "reset",
                                           OneTimeToken.used_at.is_(None)).update({"used_at": now()})
    uow.emit(events.PASSWORD_CHANGED, events.payload(
        account_id=acc.id, email=acc.email, first_name=acc.first_name,
        reset_url=f"{base_url}/mot-de-passe-oublie"))


def confirm_password_reset(uow: UnitOfWork, base_url: str, token: Any, password: Any) -> None:
    _check_new_password(password)  # before spending the link, so a typo does not burn it
    row = _consume(uow, token, "reset")
    acc = uow.session.get(Account, row.account_id)
    if acc is None or acc.status != "active":
        raise InvalidToken()
    _set_password(uow, base_url, acc, password)
    uow.commit()


def change_password(uow: UnitOfWork, config: dict[str, Any], account_id: str, current: Any,
                    new: Any) -> dict[str, Any]:
    """The current password is required; every session ends and a fresh pair is returned."""
    acc = active_account(uow, account_id)
    _refuse_if_locked(acc)  # a stolen session must not become a way to guess the password
    ok = isinstance(current, str) and verify_password(acc.password_hash or _DUMMY_HASH, current)
    if not acc.password_hash:
        ok = False
    if not ok:
        _record_failure(uow, config, acc)
        uow.commit()
        raise InvalidAccountData("Le mot de passe actuel est incorrect.",
                                 errors={"current_password": ["Le mot de passe actuel est incorrect."]})
    _check_new_password(new, "new_password")
    if new == current:
        raise InvalidAccountData("Choisissez un mot de passe différent de l'actuel.",
                                 errors={"new_password": ["Le nouveau mot de passe doit être différent de l'actuel."]})
    _set_password(uow, config["BASE_URL"], acc, new)
    pair = _issue_pair(uow, config, acc, family=uuid.uuid4().hex)
    uow.commit()
    return pair


# --- export and deletion ---------------------------------------------------------------

def export_identity(uow: UnitOfWork, account_id: str) -> dict[str, Any]:
    """What identity holds about a person (never hashes or tokens)."""
    from . import associations

    acc = active_account(uow, account_id)
    view = account_view(acc)
    view.update(created_at=aware(acc.created_at).isoformat(),  # type: ignore[union-attr]
                activated_at=acc.activated_at and aware(acc.activated_at).isoformat(),  # type: ignore[union-attr]
                associations=associations.memberships_of(uow, acc.id, include_lapsed=True))
    return view


def delete_account(uow: UnitOfWork, account_id: str) -> None:
    """Delete the account (its tokens and rights go with it) and tell every service to purge."""
    acc = active_account(uow, account_id)
    uow.session.delete(acc)
    uow.emit(events.ACCOUNT_DELETED, events.payload(account_id=account_id))
    uow.commit()


# --- roles ------------------------------------------------------------------------------

def set_agent(uow: UnitOfWork, email: Any, grant: bool) -> dict[str, Any]:
    """An admin makes an account an agent (or not any more); it applies from the next token."""
    try:
        email = domain.normalize_email(email)
    except ValueError as exc:
        raise InvalidAccountData("Adresse invalide.", errors={"email": [str(exc)]}) from None
    acc = by_email(uow, email)
    if acc is None or acc.status != "active":
        raise InvalidAccountData("Aucun compte actif avec cette adresse.",
                                 errors={"email": ["Aucun compte actif n'utilise cette adresse."]})
    roles = [r for r in (acc.roles or []) if r != "agent"]
    if grant:
        roles.append("agent")
    elif "admin" in roles:
        raise InvalidAccountData("Un administrateur reste agent.",
                                 errors={"email": ["Un compte administrateur garde le rôle d'agent."]})
    acc.roles = roles
    uow.commit()
    view = account_view(acc)
    return {"id": acc.id, "email": acc.email, "roles": view["roles"]}


def is_staff(roles: Any) -> bool:
    return bool(STAFF_ROLES & set(roles or []))


def staff_list(uow: UnitOfWork) -> list[dict[str, Any]]:
    """The city's agents and administrators (active accounts), for assigning a demande."""
    rows = uow.session.execute(select(Account).where(
        Account.status == "active",
        cast(Account.roles, String).like('%"agent"%') | cast(Account.roles, String).like('%"admin"%'))).scalars()
    staff = [staff_view(acc) for acc in rows if is_staff(acc.roles)]  # LIKE narrows, this decides
    return sorted(staff, key=lambda v: (v["name"].casefold(), v["email"]))


def staff_member(uow: UnitOfWork, account_id: Any) -> dict[str, Any] | None:
    acc = uow.session.get(Account, account_id) if isinstance(account_id, str) else None
    if acc is None or acc.status != "active" or not is_staff(acc.roles):
        return None
    return staff_view(acc)


def staff_view(acc: Account) -> dict[str, Any]:
    name = f"{acc.first_name} {acc.last_name}".strip() or acc.email
    return {"id": acc.id, "name": name, "email": acc.email}


# --- FranceConnect ----------------------------------------------------------------------

def login_external(uow: UnitOfWork, config: dict[str, Any], provider: str, claims: Any) -> dict[str, Any]:
    """Sign in with an identity provider's verified claims (the gateway checked the id_token's
    signature, issuer, audience, expiry and nonce).

    The provider's subject finds the linked account; on a first visit a verified email links
    an existing account (activating one still pending: the provider vouches for the address),
    otherwise a new account is created from the identity claims.
    """
    from .models import ExternalIdentity

    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("Réponse du fournisseur d'identité incomplète.")
    subject = claims["sub"][:255]
    link = uow.session.execute(select(ExternalIdentity).where(
        ExternalIdentity.provider == provider, ExternalIdentity.subject == subject)).scalar_one_or_none()
    acc = uow.session.get(Account, link.account_id) if link else None
    if acc is None:
        try:
            email = domain.normalize_email(claims.get("email"))
        except ValueError:
            raise InvalidAccountData("Le fournisseur d'identité n'a pas transmis d'adresse électronique valide.",
                                     errors={"email": ["Adresse électronique absente ou invalide."]}) from None
        acc = by_email(uow, email)
        verified = claims.get("email_verified", True) is not False  # FranceConnect's addresses come verified
        if acc is not None and not verified:
            raise AccountBusy("Un compte utilise déjà cette adresse : connectez-vous avec votre mot de passe, "
                              "puis liez FranceConnect depuis votre compte.")
        names = {}
        for field, claim, label in (("first_name", "given_name", "prénom"), ("last_name", "family_name", "nom")):
            try:
                names[field] = domain.clean_name(str(claims.get(claim) or "").split(" ")[0] if field == "first_name"
                                                 else claims.get(claim), label)
            except ValueError:
                names[field] = ""
        if acc is None:
            acc = Account(id=uuid.uuid4().hex, email=email, status="active", created_at=now(), activated_at=now(),
                          roles=[], addresses=[], household=[], notification_prefs={"email": True}, extra={},
                          first_name=names["first_name"], last_name=names["last_name"])
            uow.session.add(acc)
            uow.session.flush()
            uow.emit(events.ACCOUNT_ACTIVATED, events.payload(account_id=acc.id, email=acc.email,
                                                              first_name=acc.first_name))
            _contact_changed(uow, acc)
        elif acc.status == "pending":
            acc.status, acc.activated_at = "active", now()
            _contact_changed(uow, acc)
        uow.session.add(ExternalIdentity(provider=provider, subject=subject, account_id=acc.id))
        extra = dict(acc.extra or {}, fc_sub=subject)
        if isinstance(claims.get("birthdate"), str):
            extra["birthdate"] = claims["birthdate"][:10]
        acc.extra = extra
    if acc.status != "active":
        raise BadCredentials()
    pair = _issue_pair(uow, config, acc, family=uuid.uuid4().hex)
    uow.commit()
    return pair
