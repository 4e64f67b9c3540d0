"""The agents' back-office: queue, search, assignment, transitions, messages, notes."""
from __future__ import annotations

import csv
import io
import time as time_module
import uuid
from datetime import date, datetime, time
from typing import Any

from guichet_common import events
from guichet_common.auth import Caller
from guichet_common.db import UnitOfWork, utcnow
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, defer

from . import catalogue, domain
from .demandes import (
    Ports,
    _clean_body,
    _history,
    _touch,
    attachments_view,
    counts_cache,
    definition_of,
    event_payload,
    history_view,
    iso,
    list_item,
    queue_changed,
)
from .exceptions import BadInput, DemandeNotFound, InvalidAnswers, NotAllowed, WrongStatus
from .models import Attachment, Demande, Message, Note

EXPORT_LIMIT = 10_000
SEARCH_COUNT_LIMIT = 1000


def require_staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise NotAllowed("Réservé aux agents de la ville.")


def _load(session: Session, demande_id: Any, lock: bool = False) -> Demande:
    if not isinstance(demande_id, str) or len(demande_id) > 32:
        raise DemandeNotFound()
    d = session.get(Demande, demande_id, with_for_update=lock)
    if d is None or d.status == "brouillon":  # drafts are the citizen's own business
        raise DemandeNotFound()
    return d


def _date(value: Any, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        raise BadInput("Date invalide (AAAA-MM-JJ).") from None
    return datetime.combine(day, time.max if end else time.min)


def _filtered(caller: Caller, filters: dict[str, Any]) -> Select[Any]:
    q = select(Demande).where(Demande.status != "brouillon")
    if filters.get("demarche"):
        q = q.where(Demande.demarche_slug == str(filters["demarche"])[:80])
    assigned = filters.get("assigned")
    if assigned == "me":
        q = q.where(Demande.assigned_to == caller.id)
    elif assigned == "none":
        q = q.where(Demande.assigned_to.is_(None))
    elif assigned:
        q = q.where(Demande.assigned_to == str(assigned)[:64])
    if filters.get("association"):
        q = q.where(Demande.association_id == str(filters["association"])[:64])
    since, until = _date(filters.get("from")), _date(filters.get("to"), end=True)
    if since:
        q = q.where(Demande.submitted_at >= since)
    if until:
        q = q.where(Demande.submitted_at <= until)
    term = filters.get("q")
    if isinstance(term, str) and term.strip():
        term = term.strip()[:100]
        number = domain.normalize_tracking(term)
        if number:
            q = q.where(Demande.tracking_number == number)
        else:
            like = "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q = q.where(or_(*[Demande.search_text.like(w, escape="\\") for w in [like]]))
    return q


SORTS: dict[str, tuple[Any, ...]] = {
    "recent": (Demande.updated_at.desc(), Demande.id.desc()),
    "oldest": (Demande.updated_at.asc(), Demande.id.asc()),
    "submitted": (Demande.submitted_at.desc(), Demande.id.desc()),
}


def queue(session: Session, caller: Caller, filters: dict[str, Any], page: Any = 1, page_size: Any = 50,
          with_counts: bool = False) -> dict[str, Any]:
    require_staff(caller)
    try:
        page, page_size = max(1, int(page)), min(max(1, int(page_size)), 200)
    except (TypeError, ValueError):
        raise BadInput("Les paramètres page et page_size doivent être des nombres entiers.") from None
    base = _filtered(caller, filters)
    q = base
    status = filters.get("status")
    if status:
        q = q.where(Demande.status == str(status)[:40])
    order = SORTS.get(str(filters.get("sort") or "recent"), SORTS["recent"])
    # The list never shows the answers or the search text: not loading them halves the rows.
    rows = session.execute(q.options(defer(Demande.answers), defer(Demande.search_text)).order_by(*order)
                           .offset((page - 1) * page_size).limit(page_size)).scalars().all()
    searching = bool(str(filters.get("q") or "").strip())
    counts: dict[str, int] | None = None
    if searching:
        # A loose search may match most of the table; counting past a bound costs a full scan
        # for a figure nobody reads ("plus de 1 000").
        counted = q.order_by(None).with_only_columns(Demande.id).limit(SEARCH_COUNT_LIMIT + 1)
        total = session.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
    else:
        # Without a search the total is a sum of the (shortly cached) counts per status.
        counts = _counts(session, caller, base, filters)
        total = counts.get(str(status), 0) if status else sum(counts.values())
    items = []
    for d in rows:
        item = list_item(d, definition_of(session, d))
        item.update(applicant_name=d.applicant_name, assigned_to=d.assigned_to, assigned_name=d.assigned_name)
        items.append(item)
    out: dict[str, Any] = {"items": items, "page": page, "page_size": page_size,
                           "total": min(total, SEARCH_COUNT_LIMIT) if searching else total}
    if searching:
        out["total_capped"] = total > SEARCH_COUNT_LIMIT
    if with_counts and counts is not None:
        out["counts"] = counts
    elif with_counts:
        out["counts"] = {}
    return out


# Counts per status (and the list's total) are a glance at the queue: a few seconds old is
# fine, and a group-by over every demande of a démarche for each page view is not.
COUNTS_TTL_S = 3.0
_counts_cache = counts_cache


def _counts(session: Session, caller: Caller, base: Select[Any], filters: dict[str, Any]) -> dict[str, int]:
    key = tuple(sorted((k, str(v)) for k, v in filters.items() if k not in ("status", "sort", "q") and v))
    if filters.get("assigned") == "me":
        key += (("me", caller.id),)
    hit = _counts_cache.get(key)
    now = time_module.monotonic()
    if hit and now - hit[0] < COUNTS_TTL_S:
        return dict(hit[1])
    by_status = base.order_by(None).with_only_columns(Demande.status).subquery()
    counts = {st: n for st, n in session.execute(
        select(by_status.c.status, func.count()).group_by(by_status.c.status)).all()}
    if len(_counts_cache) > 500:
        _counts_cache.clear()
    _counts_cache[key] = (now, counts)
    return dict(counts)


def detail(session: Session, caller: Caller, demande_id: Any) -> dict[str, Any]:
    require_staff(caller)
    d = _load(session, demande_id)
    defn = definition_of(session, d)
    view = list_item(d, defn)
    notes = session.execute(select(Note).where(Note.demande_id == d.id).order_by(Note.created_at)).scalars().all()
    view.update({
        "demarche_version": defn["version"],
        "answers": d.answers or {},
        "applicant_name": d.applicant_name,
        "applicant_email": d.applicant_email,
        "anonymised": d.anonymised,
        "assigned_to": d.assigned_to,
        "assigned_name": d.assigned_name,
        "attachments": attachments_view(session, d),
        "history": history_view(session, d, defn),
        "messages": [dict(m, author_name=m["author_name"] if m["author"] == "citizen" else m["author_name"])
                     for m in _staff_messages(session, d)],
        "notes": [{"id": n.id, "author_name": n.author_name, "body": n.body, "created_at": iso(n.created_at)}
                  for n in notes],
        "transitions": [{"to": t, "label": domain.status_label(defn, t)}
                        for t in domain.allowed_transitions(defn, d.status)],
        "definition": domain.public_definition(defn),
    })
    return view


def _staff_messages(session: Session, d: Demande) -> list[dict[str, Any]]:
    rows = session.execute(select(Message).where(Message.demande_id == d.id)
                           .order_by(Message.created_at, Message.id)).scalars().all()
    return [{"id": m.id, "author": m.author, "author_name": m.author_name, "body": m.body,
             "created_at": iso(m.created_at)} for m in rows]


def assign(uow: UnitOfWork, ports: Ports, caller: Caller, demande_id: Any, agent_id: Any = None) -> dict[str, Any]:
    """To oneself (agent_id None, "" or "me"), to nobody ("none"), or to a colleague: an
    active agent or administrator as identity knows them (their name comes from identity)."""
    require_staff(caller)
    colleague = None
    if agent_id not in (None, "", "me", "none", caller.id):
        # asked before the row is locked (see service.releasing)
        colleague = ports.staff_member(agent_id) if isinstance(agent_id, str) and len(agent_id) <= 64 else None
        if colleague is None:
            raise InvalidAnswers("Cette personne n'est pas un agent de la ville.",
                                 errors={"agent_id": ["Choisissez un agent de la ville."]})
    s = uow.session
    d = _load(s, demande_id, lock=True)
    if colleague is not None:
        d.assigned_to, d.assigned_name = colleague["id"], colleague["name"][:200]
    elif agent_id == "none":
        d.assigned_to, d.assigned_name = None, ""
    else:
        d.assigned_to, d.assigned_name = caller.id, caller.name or caller.email
    uow.commit()
    queue_changed()
    return {"id": d.id, "assigned_to": d.assigned_to, "assigned_name": d.assigned_name}


def transition(uow: UnitOfWork, base_url: str, caller: Caller, demande_id: Any, to: Any, comment: Any = "") -> dict[str, Any]:
    require_staff(caller)
    s = uow.session
    d = _load(s, demande_id, lock=True)
    defn = definition_of(s, d)
    if not isinstance(to, str) or not to.strip():
        raise InvalidAnswers("Choisissez le nouveau statut.", errors={"to": ["Choisissez le nouveau statut."]})
    if to not in domain.allowed_transitions(defn, d.status):
        raise WrongStatus(f"Le passage de « {domain.status_label(defn, d.status)} » à « "
                          f"{domain.status_label(defn, to)} » n'est pas prévu "
                          "pour cette démarche.")
    text = comment.strip()[:5000] if isinstance(comment, str) else ""
    if to == domain.INFO_STATUS and not text:
        raise InvalidAnswers("Précisez les informations attendues.",
                             errors={"comment": ["Précisez ce qui est attendu de l'usager."]})
    d.status = to
    if d.assigned_to is None:
        d.assigned_to, d.assigned_name = caller.id, caller.name or caller.email
    _touch(d, defn)
    _history(s, d, to, text, by_staff=True)
    if to == domain.INFO_STATUS:
        s.add(Message(id=uuid.uuid4().hex, demande_id=d.id, author="agent", author_id=caller.id,
                      author_name=caller.name or caller.email, body=text, created_at=utcnow()))
        if d.account_id:
            uow.emit(events.DEMANDE_INFO_REQUESTED, event_payload(base_url, d, defn, comment=text, body=text))
    elif d.account_id:
        uow.emit(events.DEMANDE_STATUS_CHANGED, event_payload(base_url, d, defn, comment=text))
    uow.commit()
    queue_changed()
    return detail(s, caller, d.id)


def request_info(uow: UnitOfWork, base_url: str, caller: Caller, demande_id: Any, comment: Any) -> dict[str, Any]:
    return transition(uow, base_url, caller, demande_id, domain.INFO_STATUS, comment)


def post_message(uow: UnitOfWork, base_url: str, caller: Caller, demande_id: Any, body: Any) -> dict[str, Any]:
    require_staff(caller)
    s = uow.session
    d = _load(s, demande_id, lock=True)
    text = _clean_body(body)
    m = Message(id=uuid.uuid4().hex, demande_id=d.id, author="agent", author_id=caller.id,
                author_name=caller.name or caller.email, body=text, created_at=utcnow())
    s.add(m)
    d.updated_at = utcnow()
    if d.account_id:
        defn = definition_of(s, d)
        uow.emit(events.DEMANDE_MESSAGE_FROM_AGENT, event_payload(base_url, d, defn, body=text))
    uow.commit()
    return {"id": m.id, "author": m.author, "author_name": m.author_name, "body": m.body, "created_at": iso(m.created_at)}


def add_note(uow: UnitOfWork, caller: Caller, demande_id: Any, body: Any) -> dict[str, Any]:
    require_staff(caller)
    s = uow.session
    d = _load(s, demande_id)
    text = _clean_body(body)
    n = Note(id=uuid.uuid4().hex, demande_id=d.id, author_id=caller.id, author_name=caller.name or caller.email,
             body=text, created_at=utcnow())
    s.add(n)
    uow.commit()
    return {"id": n.id, "author_name": n.author_name, "body": n.body, "created_at": iso(n.created_at)}


def read_attachment(session: Session, ports: Ports, token: str, caller: Caller, demande_id: Any,
                    attachment_id: Any) -> dict[str, Any]:
    """The bytes of a submitted demande's piece, through the wallet (which logs the read)."""
    require_staff(caller)
    d = _load(session, demande_id)
    att = session.get(Attachment, attachment_id) if isinstance(attachment_id, str) else None
    if att is None or att.demande_id != d.id:
        raise DemandeNotFound("Pièce introuvable.")
    return ports.read_shared(token, att.shared_id)


def export_csv(session: Session, caller: Caller, filters: dict[str, Any]) -> str:
    require_staff(caller)
    q = _filtered(caller, filters)
    if filters.get("status"):
        q = q.where(Demande.status == str(filters["status"])[:40])
    rows = session.execute(q.order_by(*SORTS["recent"]).limit(EXPORT_LIMIT)).scalars().all()
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";")
    w.writerow(["numero_suivi", "demarche", "statut", "demandeur", "association", "agent", "envoyee_le",
                "mise_a_jour_le", "id"])
    for d in rows:
        defn = definition_of(session, d)
        w.writerow([_cell(x) for x in (d.tracking_number, d.demarche_title, domain.status_label(defn, d.status),
                                       d.applicant_name, d.association_id or "", d.assigned_name,
                                       iso(d.submitted_at) or "", iso(d.updated_at) or "", d.id)])
    return buf.getvalue()


def _cell(value: Any) -> str:
    # A cell starting with = + - @ is a formula in a spreadsheet: neutralise it.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def demarche_options(session: Session) -> list[dict[str, Any]]:
    return [{"slug": d["slug"], "title": d["title"]} for d in catalogue.list_public(session)]
