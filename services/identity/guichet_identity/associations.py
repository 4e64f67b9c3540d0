"""Associations and the rights people hold on them (granted by the city's admins)."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from guichet_common.auth import Caller
from guichet_common.db import UnitOfWork
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import domain
from .accounts import by_email
from .exceptions import AssociationNotFound, InvalidAccountData, NotAllowed, RnaTaken
from .models import Account, Association, Membership


def today() -> date:
    return datetime.now(UTC).date()


def require_admin(caller: Caller) -> None:
    if "admin" not in caller.roles:
        raise NotAllowed("Réservé aux administrateurs de la ville.")


def require_staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise NotAllowed("Réservé aux agents de la ville.")


def _association(uow: UnitOfWork, association_id: Any) -> Association:
    assoc = uow.session.get(Association, association_id) if isinstance(association_id, str) else None
    if assoc is None:
        raise AssociationNotFound()
    return assoc


def member_view(m: Membership, acc: Account, day: date) -> dict[str, Any]:
    return {"account_id": acc.id, "email": acc.email, "first_name": acc.first_name, "last_name": acc.last_name,
            "role": m.role, "until": m.until.isoformat() if m.until else None,
            "active": domain.right_active(m.until, day)}


def create(uow: UnitOfWork, caller: Caller, name: Any, rna: Any) -> dict[str, Any]:
    require_admin(caller)
    errors: dict[str, list[str]] = {}
    clean_name = None
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["Saisissez le nom de l'association."]
    elif len(" ".join(name.split())) > 200:
        errors["name"] = ["Le nom doit contenir au plus 200 caractères."]
    else:
        clean_name = " ".join(name.split())
    try:
        clean_rna = domain.clean_rna(rna)
    except ValueError as exc:
        errors["rna"] = [str(exc)]
    if errors:
        raise InvalidAccountData("L'association contient des erreurs.", errors=errors)
    if uow.session.execute(select(Association).where(Association.rna == clean_rna)).scalar_one_or_none():
        raise RnaTaken("Une association avec ce numéro RNA existe déjà.", errors={"rna": ["Ce numéro RNA est déjà enregistré."]})
    assoc = Association(id=uuid.uuid4().hex, name=clean_name, rna=clean_rna)
    uow.session.add(assoc)
    try:
        uow.commit()
    except IntegrityError:  # the same RNA registered at the same moment
        uow.rollback()
        raise RnaTaken("Une association avec ce numéro RNA existe déjà.", errors={"rna": ["Ce numéro RNA est déjà enregistré."]})
    return {"id": assoc.id, "name": assoc.name, "rna": assoc.rna}


def list_all(uow: UnitOfWork, caller: Caller) -> list[dict[str, Any]]:
    require_admin(caller)
    counts = dict(uow.session.execute(select(Membership.association_id, func.count()).group_by(
        Membership.association_id)).all())
    rows = uow.session.execute(select(Association).order_by(Association.name)).scalars()
    return [{"id": a.id, "name": a.name, "rna": a.rna, "members": counts.get(a.id, 0)} for a in rows]


def members(uow: UnitOfWork, caller: Caller, association_id: Any) -> list[dict[str, Any]]:
    require_admin(caller)
    assoc = _association(uow, association_id)
    day = today()
    rows = uow.session.execute(select(Membership, Account).join(Account, Account.id == Membership.account_id)
                               .where(Membership.association_id == assoc.id).order_by(Account.last_name)).all()
    return [member_view(m, a, day) for m, a in rows]


def get(uow: UnitOfWork, caller: Caller, association_id: Any) -> dict[str, Any]:
    assoc = _association(uow, association_id)
    return {"id": assoc.id, "name": assoc.name, "rna": assoc.rna, "members": members(uow, caller, assoc.id)}


def grant(uow: UnitOfWork, caller: Caller, association_id: Any, email: Any, role: Any,
          until: Any = None) -> dict[str, Any]:
    """Grant (or change) a person's right; the same person twice updates the right."""
    require_admin(caller)
    assoc = _association(uow, association_id)
    errors: dict[str, list[str]] = {}
    acc = None
    try:
        acc = by_email(uow, domain.normalize_email(email))
        if acc is None or acc.status != "active":
            errors["email"] = ["Aucun compte actif n'utilise cette adresse : la personne doit d'abord créer son compte."]
    except ValueError as exc:
        errors["email"] = [str(exc)]
    if role not in domain.ROLES:
        errors["role"] = ["Choisissez le rôle : representative (représentant) ou viewer (lecteur)."]
    day = today()
    clean_until = None
    try:
        clean_until = domain.clean_until(until, day)
    except ValueError as exc:
        errors["until"] = [str(exc)]
    if errors or acc is None:
        raise InvalidAccountData("Le droit ne peut pas être accordé.", errors=errors)
    m = uow.session.execute(select(Membership).where(Membership.association_id == assoc.id,
                                                     Membership.account_id == acc.id)).scalar_one_or_none()
    if m is None:
        m = Membership(association_id=assoc.id, account_id=acc.id)
        uow.session.add(m)
    m.role, m.until, m.granted_by = role, clean_until, caller.id
    uow.commit()
    return member_view(m, acc, day)


def revoke(uow: UnitOfWork, caller: Caller, association_id: Any, account_id: Any) -> None:
    require_admin(caller)
    _remove(uow, association_id, account_id)


def leave(uow: UnitOfWork, caller: Caller, association_id: Any) -> None:
    _remove(uow, association_id, caller.id)


def _remove(uow: UnitOfWork, association_id: Any, account_id: Any) -> None:
    m = uow.session.execute(select(Membership).where(Membership.association_id == association_id,
                                                     Membership.account_id == account_id)).scalar_one_or_none()
    if m is None:
        raise AssociationNotFound("Aucun droit de cette personne sur cette association.")
    uow.session.delete(m)
    uow.commit()


def memberships_of(uow: UnitOfWork, account_id: str, include_lapsed: bool = False) -> list[dict[str, Any]]:
    """A person's associations, `[{id, name, role, rna, until}]` (lapsed rights left out)."""
    day = today()
    rows = uow.session.execute(select(Membership, Association).join(Association, Association.id == Membership.association_id)
                               .where(Membership.account_id == account_id).order_by(Association.name)).all()
    return [{"id": a.id, "name": a.name, "role": m.role, "rna": a.rna, "until": m.until.isoformat() if m.until else None}
            for m, a in rows if include_lapsed or domain.right_active(m.until, day)]


def role_of(uow: UnitOfWork, account_id: Any, association_id: Any) -> str | None:
    """"representative", "viewer" or None (no right, or lapsed) — for other services."""
    if not isinstance(account_id, str) or not isinstance(association_id, str):
        return None
    m = uow.session.execute(select(Membership).where(Membership.association_id == association_id,
                                                     Membership.account_id == account_id)).scalar_one_or_none()
    if m is None or not domain.right_active(m.until, today()):
        return None
    return m.role
