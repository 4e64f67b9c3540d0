"""The catalogue: démarche definitions as data, seeded from catalogue/*.yaml, versioned."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from guichet_common.auth import Caller
from guichet_common.db import UnitOfWork, utcnow
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import domain
from .exceptions import DemarcheExists, DemarcheNotFound, InvalidDefinition, NotAllowed
from .models import Demarche, DemarcheVersion

CATALOGUE_DIR = Path(__file__).parent / "catalogue"

# Versions never change once written, so their definitions are cached per process.
_versions: dict[int, dict[str, Any]] = {}


def seed_files() -> list[dict[str, Any]]:
    out = []
    for path in sorted(CATALOGUE_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw.setdefault("position", 100)
        out.append(raw)
    return out


def ensure_seeded(session: Session) -> int:
    """Create each seed démarche that does not exist yet (an admin's edits are kept)."""
    created = 0
    for raw in seed_files():
        if session.get(Demarche, raw["slug"]) is None:
            _create(session, raw, "seed", position=int(raw.get("position", 100)))
            created += 1
    return created


def _create(session: Session, raw: Any, by: str, position: int = 100) -> dict[str, Any]:
    try:
        defn = domain.normalize_definition(raw)
    except domain.DefinitionError as exc:
        raise InvalidDefinition("La définition de la démarche contient des erreurs.", errors=exc.errors) from None
    session.add(Demarche(slug=defn["slug"], title=defn["title"], online=defn["online"], audience=defn["audience"],
                         current_version=1, position=position, updated_at=utcnow()))
    session.flush()
    session.add(DemarcheVersion(slug=defn["slug"], version=1, definition=defn, created_by=by))
    session.flush()
    return defn


def version(session: Session, version_id: int) -> dict[str, Any]:
    defn = _versions.get(version_id)
    if defn is None:
        row = session.get(DemarcheVersion, version_id)
        if row is None:
            raise DemarcheNotFound()
        defn = dict(row.definition, version=row.version, version_id=row.id)
        _versions[version_id] = defn
    return defn


def current(session: Session, slug: Any) -> dict[str, Any]:
    if not isinstance(slug, str) or len(slug) > 80:
        raise DemarcheNotFound()
    row = session.execute(
        select(DemarcheVersion.id).join(Demarche, Demarche.slug == DemarcheVersion.slug)
        .where(Demarche.slug == slug, Demarche.active.is_(True), DemarcheVersion.version == Demarche.current_version)
    ).first()
    if row is None:
        raise DemarcheNotFound()
    return version(session, row[0])


def list_public(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Demarche).where(Demarche.active.is_(True))
                           .order_by(Demarche.position, Demarche.title)).scalars().all()
    out = []
    for d in rows:
        item = {"slug": d.slug, "title": d.title, "online": d.online, "audience": d.audience}
        defn = current(session, d.slug)
        item["description"] = defn["description"]
        out.append(item)
    return out


def get_public(session: Session, slug: Any) -> dict[str, Any]:
    defn = current(session, slug)
    return dict(domain.public_definition(defn), version=defn["version"])


def admin_list(session: Session, caller: Caller) -> list[dict[str, Any]]:
    _require_admin(caller)
    rows = session.execute(select(Demarche).order_by(Demarche.position, Demarche.title)).scalars().all()
    return [{"slug": d.slug, "title": d.title, "online": d.online, "audience": d.audience,
             "current_version": d.current_version, "active": d.active} for d in rows]


def _require_admin(caller: Caller) -> None:
    if "admin" not in caller.roles:
        raise NotAllowed("La gestion des démarches est réservée aux administrateurs.")


def admin_get(session: Session, caller: Caller, slug: Any) -> dict[str, Any]:
    """The current definition in the editable (input) form, workflow included."""
    _require_admin(caller)
    defn = current(session, slug)
    defaults = {s["slug"]: s for s in domain.DEFAULT_STATUSES}
    extra = [s for s in defn["statuses"] if defaults.get(s["slug"]) != s]
    transitions = {k: v for k, v in defn["transitions"].items() if domain.DEFAULT_TRANSITIONS.get(k) != v}
    out = {k: defn[k] for k in ("slug", "title", "description", "audience", "online", "steps", "attachments")}
    if defn.get("info_url"):
        out["info_url"] = defn["info_url"]
    out["workflow"] = {"statuses": extra, "transitions": transitions}
    return {"version": defn["version"], "definition": out}


def admin_create(uow: UnitOfWork, caller: Caller, raw: Any) -> dict[str, Any]:
    _require_admin(caller)
    slug = raw.get("slug") if isinstance(raw, dict) else None
    if isinstance(slug, str) and uow.session.get(Demarche, slug) is not None:
        raise DemarcheExists("Une démarche porte déjà cet identifiant.")
    defn = _create(uow.session, raw, caller.id)
    uow.commit()
    return dict(domain.public_definition(defn), version=1)


def admin_update(uow: UnitOfWork, caller: Caller, slug: Any, raw: Any) -> dict[str, Any]:
    """A new version: demandes already started keep theirs."""
    _require_admin(caller)
    d = uow.session.get(Demarche, slug) if isinstance(slug, str) else None
    if d is None:
        raise DemarcheNotFound()
    if isinstance(raw, dict):
        raw = dict(raw, slug=slug)
    try:
        defn = domain.normalize_definition(raw)
    except domain.DefinitionError as exc:
        raise InvalidDefinition("La définition de la démarche contient des erreurs.", errors=exc.errors) from None
    last = uow.session.execute(select(func.max(DemarcheVersion.version)).where(DemarcheVersion.slug == slug)).scalar_one()
    new = int(last or 0) + 1
    uow.session.add(DemarcheVersion(slug=slug, version=new, definition=defn, created_by=caller.id))
    d.current_version, d.title, d.online, d.audience = new, defn["title"], defn["online"], defn["audience"]
    if isinstance(raw, dict) and "active" in raw:
        d.active = bool(raw["active"])
    d.updated_at = utcnow()
    uow.commit()
    return dict(domain.public_definition(defn), version=new)
