"""Demandes, the citizen's side: drafts, steps, attachments, submission, follow-up.

Other services are reached through `ports` (an object with the RPC methods used here),
so these use cases run with small fakes in unit tests.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Protocol

from guichet_common import events
from guichet_common.auth import Caller
from guichet_common.db import UnitOfWork, as_utc, utcnow
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import catalogue, domain
from .exceptions import BadInput, DemandeNotFound, InvalidAnswers, NotAllowed, WrongStatus
from .models import Attachment, Demande, HistoryEntry, IdempotencyKey, Message, Note

log = logging.getLogger(__name__)

CITIZEN_EDITABLE = ("brouillon", "en_attente")
MAX_MESSAGE = 5000
MAX_B64 = 40 * 1024 * 1024  # the wallet enforces the real size limit; this only bounds the message


class Ports(Protocol):
    def get_me(self, token: str) -> dict[str, Any]: ...
    def association_role(self, account_id: str, association_id: str) -> str | None: ...
    def update_me(self, token: str, changes: dict[str, Any]) -> dict[str, Any]: ...
    def store_shared(self, token: str, scope: str, filename: str, content_b64: str) -> dict[str, Any]: ...
    def share_document(self, token: str, document_id: str, scope: str) -> dict[str, Any]: ...
    def find_valid_justificatif(self, token: str, kind: str) -> dict[str, Any] | None: ...
    def share_justificatif(self, token: str, justificatif_id: str, scope: str) -> dict[str, Any]: ...
    def read_shared(self, token: str, shared_id: str) -> dict[str, Any]: ...
    def staff_member(self, account_id: str) -> dict[str, Any] | None: ...


# The back-office's counts per status, cached a few seconds (see backoffice._counts);
# emptied by every change this process makes to the queue, so its own writes show at once.
counts_cache: dict[tuple[Any, ...], tuple[float, dict[str, int]]] = {}


def queue_changed() -> None:
    counts_cache.clear()


aware = as_utc


def iso(dt: datetime | None) -> str | None:
    dt = aware(dt)
    return dt.isoformat() if dt else None


# --- loading -------------------------------------------------------------------------


def load_own(session: Session, caller: Caller, demande_id: Any, lock: bool = False) -> Demande:
    """The caller's own demande; anyone else's (or none) is NotFound."""
    if not isinstance(demande_id, str) or len(demande_id) > 32:
        raise DemandeNotFound()
    d = session.get(Demande, demande_id, with_for_update=lock)
    if d is None or d.account_id != caller.id:
        raise DemandeNotFound()
    return d


def definition_of(session: Session, d: Demande) -> dict[str, Any]:
    return catalogue.version(session, d.version_id)


# --- views ---------------------------------------------------------------------------


def list_item(d: Demande, defn: dict[str, Any] | None = None) -> dict[str, Any]:
    label = domain.status_label(defn, d.status) if defn else d.status
    return {"id": d.id, "demarche": d.demarche_slug, "demarche_title": d.demarche_title, "status": d.status,
            "status_label": label, "tracking_number": d.tracking_number, "association_id": d.association_id,
            "created_at": iso(d.created_at), "updated_at": iso(d.updated_at), "submitted_at": iso(d.submitted_at)}


def attachments_view(session: Session, d: Demande) -> list[dict[str, Any]]:
    rows = session.execute(select(Attachment).where(Attachment.demande_id == d.id)
                           .order_by(Attachment.created_at)).scalars().all()
    return [{"id": a.id, "requirement": a.requirement, "filename": a.filename, "content_type": a.content_type,
             "size": a.size, "message_id": a.message_id, "source": a.source, "created_at": iso(a.created_at)}
            for a in rows]


def history_view(session: Session, d: Demande, defn: dict[str, Any]) -> list[dict[str, Any]]:
    rows = session.execute(select(HistoryEntry).where(HistoryEntry.demande_id == d.id)
                           .order_by(HistoryEntry.at, HistoryEntry.id)).scalars().all()
    return [{"status": h.status, "status_label": domain.status_label(defn, h.status), "at": iso(h.at),
             "comment": h.comment} for h in rows]


def messages_view(session: Session, d: Demande) -> list[dict[str, Any]]:
    rows = session.execute(select(Message).where(Message.demande_id == d.id)
                           .order_by(Message.created_at, Message.id)).scalars().all()
    return [{"id": m.id, "author": m.author, "author_name": m.author_name if m.author == "citizen" else "Agent de la ville",
             "body": m.body, "created_at": iso(m.created_at)} for m in rows]


def detail_view(session: Session, d: Demande) -> dict[str, Any]:
    defn = definition_of(session, d)
    view = list_item(d, defn)
    view.update({
        "demarche_version": defn["version"],
        "answers": d.answers or {},
        "attachments": attachments_view(session, d),
        "history": history_view(session, d, defn),
        "messages": messages_view(session, d),
        "editable": d.status in CITIZEN_EDITABLE,
        "cancellable": d.status == "en_attente",
        "done": bool(domain.status_info(defn, d.status)["done"]),
        "definition": domain.public_definition(defn),
    })
    return view


# --- helpers -------------------------------------------------------------------------


def _history(session: Session, d: Demande, status: str, comment: str = "", by_staff: bool = False) -> None:
    session.add(HistoryEntry(demande_id=d.id, status=status, at=utcnow(), comment=comment, by_staff=by_staff))


def _touch(d: Demande, defn: dict[str, Any]) -> None:
    d.updated_at = utcnow()
    d.search_text = domain.search_text(d.tracking_number, d.applicant_name, d.demarche_title, d.answers or {})


def event_payload(base_url: str, d: Demande, defn: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return events.payload(account_id=d.account_id, demande_id=d.id, demarche_title=d.demarche_title,
                          tracking_number=d.tracking_number, status=d.status,
                          status_label=domain.status_label(defn, d.status),
                          url=f"{base_url}/demandes/{d.id}", **extra)


def _idempotent(session: Session, account_id: str, scope: str, key: Any) -> dict[str, Any] | None:
    if not key:
        return None
    row = session.get(IdempotencyKey, (account_id, scope, str(key)[:200]))
    return row.response if row else None


def _remember(session: Session, account_id: str, scope: str, key: Any, response: dict[str, Any]) -> None:
    if key:
        session.add(IdempotencyKey(account_id=account_id, scope=scope, key=str(key)[:200], response=response))


def _applicant(caller: Caller) -> str:
    return caller.name or caller.email


# --- use cases -----------------------------------------------------------------------


def create(uow: UnitOfWork, ports: Ports, token: str, caller: Caller, slug: Any, association_id: Any = None,
           idempotency_key: Any = None) -> dict[str, Any]:
    s = uow.session
    replay = _idempotent(s, caller.id, "create", idempotency_key)
    if replay:
        return replay
    defn = catalogue.current(s, slug)
    if not defn["online"]:
        raise WrongStatus("Cette démarche ne se fait pas en ligne.")
    if defn["audience"] == "association":
        if not isinstance(association_id, (str, int)) or isinstance(association_id, bool) or not str(association_id):
            raise NotAllowed("Cette démarche est réservée aux représentants d'une association : "
                             "précisez l'association.")
        association_id = str(association_id)[:64]
        try:
            role = ports.association_role(caller.id, association_id)
        except Exception:  # identity unreachable or not answering: no proof of the right, no access
            log.warning("association_role failed", exc_info=True)
            role = None
        if role != "representative":
            raise NotAllowed("Vous n'avez pas les droits de représentant sur cette association.")
    else:
        association_id = None
    profile = None
    try:
        profile = ports.get_me(token)
    except Exception:  # pre-filling is a convenience; the demande works without it
        log.info("profile unavailable for prefill", exc_info=True)
    answers = domain.prefill(defn, {}, profile)
    now = utcnow()
    d = Demande(id=uuid.uuid4().hex, account_id=caller.id, demarche_slug=defn["slug"], version_id=defn["version_id"],
                demarche_title=defn["title"], association_id=association_id, status="brouillon", answers=answers,
                applicant_name=_applicant(caller), applicant_email=caller.email, created_at=now, updated_at=now)
    _touch(d, defn)
    s.add(d)
    s.flush()
    _history(s, d, "brouillon", "Demande commencée.")
    result = {"id": d.id, "status": d.status}
    _remember(s, caller.id, "create", idempotency_key, result)
    try:
        uow.commit()
    except IntegrityError:  # the same key raced us: answer what the first one answered
        uow.rollback()
        replay = _idempotent(s, caller.id, "create", idempotency_key)
        if replay:
            return replay
        raise
    return result


def list_own(session: Session, caller: Caller, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    page, page_size = _paging(page, page_size)
    q = select(Demande).where(Demande.account_id == caller.id)
    total = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = session.execute(q.order_by(Demande.created_at.desc(), Demande.id.desc())
                           .offset((page - 1) * page_size).limit(page_size)).scalars().all()
    return {"items": [list_item(d, definition_of(session, d)) for d in rows], "page": page,
            "page_size": page_size, "total": total}


def _paging(page: Any, page_size: Any) -> tuple[int, int]:
    try:
        return max(1, int(page)), min(max(1, int(page_size)), 200)
    except (TypeError, ValueError):
        raise BadInput("Les paramètres page et page_size doivent être des nombres entiers.") from None


def get(session: Session, caller: Caller, demande_id: Any) -> dict[str, Any]:
    return detail_view(session, load_own(session, caller, demande_id))


def save_step(uow: UnitOfWork, caller: Caller, demande_id: Any, step_id: Any, data: Any) -> dict[str, Any]:
    s = uow.session
    d = load_own(s, caller, demande_id, lock=True)
    if d.status not in CITIZEN_EDITABLE:
        raise WrongStatus("La demande ne peut plus être modifiée : elle est prise en charge par les services.")
    defn = definition_of(s, d)
    try:
        merged, errors = domain.validate_step(defn, step_id, d.answers or {}, data)
    except KeyError:
        raise DemandeNotFound("Étape introuvable.") from None
    if errors:
        raise InvalidAnswers("Certaines réponses sont à corriger.", errors=errors)
    if d.status == "en_attente":
        missing = domain.missing_answers(defn, merged)
        if missing:
            raise InvalidAnswers("Certaines réponses sont à corriger.", errors=missing)
    if merged != d.answers:
        d.answers = merged
        _touch(d, defn)
        if d.status == "en_attente":
            _history(s, d, d.status, "Demande modifiée par l'usager.")
    uow.commit()
    return detail_view(s, d)


def patch(uow: UnitOfWork, caller: Caller, demande_id: Any, data: Any) -> dict[str, Any]:
    s = uow.session
    d = load_own(s, caller, demande_id, lock=True)
    if d.status != "en_attente":
        raise WrongStatus("Une demande ne se modifie que tant qu'elle est en attente.")
    defn = definition_of(s, d)
    merged, errors = domain.validate_patch(defn, d.answers or {}, data)
    if errors:
        raise InvalidAnswers("Certaines réponses sont à corriger.", errors=errors)
    if merged != d.answers:
        d.answers = merged
        _touch(d, defn)
        _history(s, d, d.status, "Demande modifiée par l'usager.")
    uow.commit()
    return detail_view(s, d)


def delete_draft(uow: UnitOfWork, caller: Caller, demande_id: Any) -> None:
    s = uow.session
    d = load_own(s, caller, demande_id, lock=True)
    if d.status != "brouillon":
        raise WrongStatus("Seul un brouillon peut être supprimé ; une demande envoyée peut être annulée.")
    _delete_demande(s, d)
    uow.commit()


def _delete_demande(s: Session, d: Demande) -> None:
    for model in (Attachment, HistoryEntry, Message, Note):
        s.execute(delete(model).where(model.demande_id == d.id))  # type: ignore[attr-defined]
    s.delete(d)


def cancel(uow: UnitOfWork, base_url: str, caller: Caller, demande_id: Any, comment: Any = "") -> dict[str, Any]:
    s = uow.session
    d = load_own(s, caller, demande_id, lock=True)
    if d.status != "en_attente":
        raise WrongStatus("Une demande ne s'annule que tant qu'elle est en attente.")
    defn = definition_of(s, d)
    d.status = "annule"
    _touch(d, defn)
    text = comment.strip()[:1000] if isinstance(comment, str) and comment.strip() else "Annulée par l'usager."
    _history(s, d, d.status, text)
    uow.emit(events.DEMANDE_STATUS_CHANGED, event_payload(base_url, d, defn, comment=text))
    uow.commit()
    queue_changed()
    return detail_view(s, d)


def add_attachment(uow: UnitOfWork, ports: Ports, token: str, caller: Caller, demande_id: Any, requirement: Any,
                   filename: Any = None, content_b64: Any = None, wallet_document_id: Any = None,
                   justificatif_id: Any = None) -> dict[str, Any]:
    s = uow.session
    d = load_own(s, caller, demande_id)
    if d.status not in (*CITIZEN_EDITABLE, domain.INFO_STATUS):
        raise WrongStatus("On ne joint plus de pièce à cette demande.")
    defn = definition_of(s, d)
    names = {a["name"] for a in defn["attachments"]}
    if requirement in (None, "") and d.status == domain.INFO_STATUS:
        requirement = None  # an extra piece answering the agents' request
    elif not isinstance(requirement, str) or requirement not in names:
        raise InvalidAnswers("Pièce inconnue pour cette démarche.",
                             errors={"requirement": ["Choisissez une des pièces demandées."]})
    scope = f"demande:{d.id}"
    if wallet_document_id:
        shared = ports.share_document(token, str(wallet_document_id)[:64], scope)
        source = "wallet"
    elif justificatif_id:
        shared = ports.share_justificatif(token, str(justificatif_id)[:64], scope)
        source = "justificatif"
    else:
        if not isinstance(filename, str) or not filename.strip() or not isinstance(content_b64, str) or not content_b64:
            raise InvalidAnswers("Aucun fichier reçu.", errors={"file": ["Choisissez un fichier."]})
        if len(content_b64) > MAX_B64:
            from guichet_common.errors import PayloadTooLarge

            raise PayloadTooLarge()
        shared = ports.store_shared(token, scope, filename.strip()[:255], content_b64)
        source = "upload"
    # Replacing a piece: the previous one of the same requirement goes (drafts and en_attente).
    if requirement:
        s.execute(delete(Attachment).where(Attachment.demande_id == d.id, Attachment.requirement == requirement))
    att = Attachment(id=uuid.uuid4().hex, demande_id=d.id, requirement=requirement,
                     filename=str(shared.get("filename") or filename or "piece")[:255], shared_id=str(shared["shared_id"]),
                     content_type=str(shared.get("content_type") or "application/octet-stream")[:120],
                     size=int(shared.get("size") or 0), source=source, created_at=utcnow())
    s.add(att)
    d.updated_at = utcnow()
    if d.status == "en_attente":
        _history(s, d, d.status, "Pièce jointe ajoutée par l'usager.")
    uow.commit()
    return {"id": att.id, "requirement": att.requirement, "filename": att.filename, "content_type": att.content_type,
            "size": att.size}


def remove_attachment(uow: UnitOfWork, caller: Caller, demande_id: Any, attachment_id: Any) -> None:
    s = uow.session
    d = load_own(s, caller, demande_id)
    if d.status not in CITIZEN_EDITABLE:
        raise WrongStatus()
    att = s.get(Attachment, attachment_id) if isinstance(attachment_id, str) else None
    if att is None or att.demande_id != d.id:
        raise DemandeNotFound("Pièce introuvable.")
    s.delete(att)
    uow.commit()


def read_own_attachment(session: Session, ports: Ports, token: str, caller: Caller, demande_id: Any,
                        attachment_id: Any) -> dict[str, Any]:
    d = load_own(session, caller, demande_id)
    att = session.get(Attachment, attachment_id) if isinstance(attachment_id, str) else None
    if att is None or att.demande_id != d.id:
        raise DemandeNotFound("Pièce introuvable.")
    return ports.read_shared(token, att.shared_id)


def _use_justificatifs(uow: UnitOfWork, ports: Ports, token: str, d: Demande, defn: dict[str, Any],
                       present: set[str]) -> set[str]:
    """A valid justificatif of the required kind is used without asking for a new upload."""
    for req in defn["attachments"]:
        if req["name"] in present or not req.get("kind"):
            continue
        try:
            found = ports.find_valid_justificatif(token, req["kind"])
            if not found:
                continue
            shared = ports.share_justificatif(token, found["justificatif_id"], f"demande:{d.id}")
        except Exception:  # the wallet may not know justificatifs yet: ask for the piece then
            log.info("justificatif lookup failed", exc_info=True)
            continue
        uow.session.add(Attachment(id=uuid.uuid4().hex, demande_id=d.id, requirement=req["name"],
                                   filename=str(shared.get("filename") or found.get("title") or req["label"])[:255],
                                   shared_id=str(shared["shared_id"]), content_type=str(shared.get("content_type") or
                                                                                      "application/octet-stream")[:120],
                                   size=int(shared.get("size") or 0), source="justificatif", created_at=utcnow()))
        present.add(req["name"])
    return present


def submit(uow: UnitOfWork, ports: Ports, base_url: str, token: str, caller: Caller, demande_id: Any,
           idempotency_key: Any = None, update_profile: Any = False) -> dict[str, Any]:
    s = uow.session
    # Locked at once: the usual submission asks nobody else, so one read takes the row.
    d = load_own(s, caller, demande_id, lock=True)
    if d.status != "brouillon":
        # A retry of a submission that went through answers as the first time did (the
        # key is looked up only here: a first submission does not pay for the lookup).
        replay = _idempotent(s, caller.id, "submit", idempotency_key)
        if replay and replay.get("id") == demande_id:
            uow.rollback()
            return {k: v for k, v in replay.items() if k != "id"}
        raise WrongStatus("Cette demande a déjà été envoyée.")
    defn = definition_of(s, d)
    present = {r for r in s.execute(select(Attachment.requirement).where(Attachment.demande_id == d.id)).scalars()
               if r}
    if domain.missing_attachments(defn, present):
        # The wallet is asked with no row locked (see service.releasing), then the row is
        # taken again and checked again.
        uow.rollback()
        present = _use_justificatifs(uow, ports, token, d, defn, present)
        s.refresh(d, with_for_update=True)
        if d.status != "brouillon":
            raise WrongStatus("Cette demande a déjà été envoyée.")
    answers = domain.visible_answers(defn, d.answers or {})
    errors = domain.missing_answers(defn, answers)
    errors.update(domain.missing_attachments(defn, present))
    if errors:
        s.flush()
        uow.commit()  # a justificatif already shared stays attached to the draft
        raise InvalidAnswers("La demande est incomplète.", errors=errors, missing=sorted(errors))
    now = utcnow()
    d.answers = answers
    d.status = "en_attente"
    d.submitted_at = now
    # 60 random bits: a collision is as likely as guessing a number; the unique index would
    # refuse it and the person would simply send again.
    d.tracking_number = domain.new_tracking_number()
    _touch(d, defn)
    _history(s, d, "en_attente", "Demande envoyée.")
    uow.emit(events.DEMANDE_SUBMITTED, event_payload(base_url, d, defn))
    result = {"status": d.status, "tracking_number": d.tracking_number}
    _remember(s, caller.id, "submit", idempotency_key, dict(result, id=d.id))
    try:
        uow.commit()
    except IntegrityError:
        uow.rollback()
        replay = _idempotent(s, caller.id, "submit", idempotency_key)
        if replay and replay.get("id") == demande_id:
            return {k: v for k, v in replay.items() if k != "id"}
        if replay:
            raise WrongStatus("Cette clé d'idempotence a déjà servi pour une autre demande.") from None
        raise
    queue_changed()
    if update_profile is True:
        _feed_profile(ports, token, defn, answers)
    return result


def _feed_profile(ports: Ports, token: str, defn: dict[str, Any], answers: dict[str, Any]) -> None:
    """New data typed in a démarche goes to the account when the person asked for it."""
    try:
        profile = ports.get_me(token)
        changes = domain.profile_changes(defn, answers, profile)
        if changes:
            ports.update_me(token, changes)
    except Exception:  # the demande is sent; the profile update is a best-effort extra
        log.warning("profile update after submission failed", exc_info=True)


def post_message(uow: UnitOfWork, caller: Caller, demande_id: Any, body: Any) -> dict[str, Any]:
    s = uow.session
    d = load_own(s, caller, demande_id, lock=True)
    if d.status == "brouillon":
        raise WrongStatus("Envoyez d'abord la demande pour échanger avec les services.")
    text = _clean_body(body)
    m = Message(id=uuid.uuid4().hex, demande_id=d.id, author="citizen", author_id=caller.id,
                author_name=d.applicant_name, body=text, created_at=utcnow())
    s.add(m)
    d.updated_at = utcnow()
    if d.status == domain.INFO_STATUS:
        # The person answered the request for information: back to the agents.
        d.status = "en_traitement"
        _history(s, d, d.status, "Réponse de l'usager reçue.")
    uow.commit()
    queue_changed()
    return {"id": m.id, "author": m.author, "author_name": m.author_name, "body": m.body, "created_at": iso(m.created_at)}


def _clean_body(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidAnswers("Le message est vide.", errors={"body": ["Saisissez votre message."]})
    if len(body) > MAX_MESSAGE:
        raise InvalidAnswers("Message trop long.", errors={"body": [f"{MAX_MESSAGE} caractères au plus."]})
    return body.strip()


def list_messages(session: Session, caller: Caller, demande_id: Any) -> list[dict[str, Any]]:
    return messages_view(session, load_own(session, caller, demande_id))


def track(session: Session, number: Any) -> dict[str, Any]:
    """Anonymous follow-up: the status and the démarche, nothing personal."""
    norm = domain.normalize_tracking(number)
    if norm is None:
        raise DemandeNotFound("Numéro de suivi inconnu.")
    d = session.execute(select(Demande).where(Demande.tracking_number == norm)).scalar_one_or_none()
    if d is None:
        raise DemandeNotFound("Numéro de suivi inconnu.")
    defn = definition_of(session, d)
    info = domain.status_info(defn, d.status)
    return {"tracking_number": d.tracking_number, "status": d.status, "status_label": info["label"],
            "done": info["done"], "demarche": d.demarche_title, "demarche_slug": d.demarche_slug,
            "updated_at": iso(d.updated_at)}


# --- other services' questions and the account's end -------------------------------------


def count_in_progress(session: Session, account_id: str) -> int:
    rows = session.execute(select(Demande.version_id, Demande.status, func.count())
                           .where(Demande.account_id == account_id, Demande.status != "brouillon")
                           .group_by(Demande.version_id, Demande.status)).all()
    total = 0
    for version_id, status, n in rows:
        if status in domain.in_progress_statuses(catalogue.version(session, version_id)):
            total += n
    return total


def export_personal_data(session: Session, account_id: str) -> dict[str, Any]:
    rows = session.execute(select(Demande).where(Demande.account_id == account_id)
                           .order_by(Demande.created_at)).scalars().all()
    out = []
    for d in rows:
        view = detail_view(session, d)
        view.pop("definition", None)
        out.append(view)
    return {"demandes": out}


def forget_account(uow: UnitOfWork, account_id: str) -> int:
    """Account deleted: drafts go; submitted demandes stay for the city without personal data."""
    s = uow.session
    rows = s.execute(select(Demande).where(Demande.account_id == account_id)).scalars().all()
    for d in rows:
        if d.status == "brouillon":
            _delete_demande(s, d)
            continue
        defn = definition_of(s, d)
        d.answers = domain.anonymise_answers(defn, d.answers or {})
        d.account_id = None
        d.applicant_name = "Usager supprimé"
        d.applicant_email = ""
        d.anonymised = True
        s.execute(delete(Attachment).where(Attachment.demande_id == d.id))
        for m in s.execute(select(Message).where(Message.demande_id == d.id, Message.author == "citizen")).scalars():
            m.body = "[message supprimé avec le compte]"
            m.author_name = "Usager supprimé"
            m.author_id = None
        d.search_text = domain.search_text(d.tracking_number, d.applicant_name, d.demarche_title, d.answers)
        s.add(HistoryEntry(demande_id=d.id, status=d.status, at=utcnow(),
                           comment="Compte de l'usager supprimé : données personnelles effacées.", by_staff=False))
    uow.commit()
    queue_changed()
    return len(rows)
