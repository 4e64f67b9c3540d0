"""Justificatifs: a document checked once by an agent, reused while valid.

Submitting shares an encrypted copy into the scope ``justificatif:<id>`` (the agent reads
that copy, never the private document, and the read shows in the owner's access log).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from guichet_common import events
from guichet_common.auth import Caller
from guichet_common.db import utcnow
from sqlalchemy import func, select

from . import domain
from .documents import (
    Ctx,
    _clean,
    _own_document,
    copy_to_scope,
    document_view,
    new_id,
    read_shared_row,
    shared_view,
)
from .exceptions import InvalidWalletData, JustificatifNotFound, StaffOnly, WrongState
from .models import Justificatif, SharedCopy


def today() -> date:
    return utcnow().date()


def justificatif_view(j: Justificatif, on: date | None = None) -> dict[str, Any]:
    status = domain.justificatif_status(j.status, j.valid_until, on or today())
    return {
        "id": j.id, "document_id": j.document_id, "kind": j.kind, "kind_label": domain.kind_label(j.kind),
        "title": j.title, "status": status, "status_label": domain.STATUS_LABELS.get(status, status),
        "valid_until": j.valid_until.isoformat() if j.valid_until else None, "reason": j.reason,
        "created_at": j.created_at.isoformat(),
        "reviewed_at": j.reviewed_at.isoformat() if j.reviewed_at else None,
    }


def _url(ctx: Ctx) -> str:
    return str(ctx.config.get("BASE_URL", "")).rstrip("/") + "/porte-documents/justificatifs"


def _staff(caller: Caller) -> None:
    if not caller.is_staff:
        raise StaffOnly()


def submit(ctx: Ctx, caller: Caller, document_id: Any, kind: Any) -> dict[str, Any]:
    kind = _clean(kind, lambda k: domain.clean_kind(k, required=True), "kind")
    doc = _own_document(ctx, caller, document_id)
    jid = new_id()
    copy = copy_to_scope(ctx, doc, f"justificatif:{jid}", doc.id)
    j = Justificatif(id=jid, owner_id=caller.id, document_id=doc.id, shared_id=copy.id, kind=kind,
                     title=doc.title or doc.filename, status="pending")
    ctx.uow.session.add(j)
    ctx.uow.commit()
    return justificatif_view(j)


def list_mine(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    rows = ctx.uow.session.execute(select(Justificatif).where(Justificatif.owner_id == caller.id)
                                   .order_by(Justificatif.created_at.desc())).scalars().all()
    return [justificatif_view(j) for j in rows]


def find_valid(ctx: Ctx, caller: Caller, kind: Any) -> dict[str, Any] | None:
    if not isinstance(kind, str):
        return None
    j = ctx.uow.session.execute(
        select(Justificatif).where(Justificatif.owner_id == caller.id, Justificatif.kind == kind,
                                   Justificatif.status == "validated", Justificatif.valid_until >= today())
        .order_by(Justificatif.valid_until.desc())).scalars().first()
    if j is None:
        return None
    return {"justificatif_id": j.id, "document_id": j.document_id, "kind": j.kind,
            "valid_until": j.valid_until.isoformat() if j.valid_until else None, "title": j.title}


def share(ctx: Ctx, caller: Caller, justificatif_id: Any, scope: Any) -> dict[str, Any]:
    scope = _clean(scope, domain.check_scope, "scope")
    j = _mine(ctx, caller, justificatif_id)
    if domain.justificatif_status(j.status, j.valid_until, today()) != "validated":
        raise WrongState("Ce justificatif n'est pas valide.")
    source = ctx.uow.session.get(SharedCopy, j.shared_id)
    if source is None or source.status != "active":
        raise JustificatifNotFound()
    # from the review copy: the private document may have been deleted since
    return shared_view(copy_to_scope(ctx, source, scope, j.document_id))


def _mine(ctx: Ctx, caller: Caller, justificatif_id: Any) -> Justificatif:
    j = ctx.uow.session.get(Justificatif, justificatif_id) if isinstance(justificatif_id, str) else None
    if j is None or j.owner_id != caller.id:
        raise JustificatifNotFound()
    return j


def _any(ctx: Ctx, justificatif_id: Any) -> Justificatif:
    j = ctx.uow.session.get(Justificatif, justificatif_id) if isinstance(justificatif_id, str) else None
    if j is None:
        raise JustificatifNotFound()
    return j


# --------------------------------------------------------------------------- back-office


def review_list(ctx: Ctx, caller: Caller, status: Any = "pending", page: Any = 1, page_size: Any = 50
                ) -> dict[str, Any]:
    _staff(caller)
    status = status if status in ("pending", "validated", "refused", "expired", "all") else "pending"
    page = page if isinstance(page, int) and page > 0 else 1
    page_size = page_size if isinstance(page_size, int) and 0 < page_size <= 200 else 50
    q = select(Justificatif)
    if status == "expired":
        q = q.where(Justificatif.status == "validated", Justificatif.valid_until < today())
    elif status == "validated":
        q = q.where(Justificatif.status == "validated", Justificatif.valid_until >= today())
    elif status != "all":
        q = q.where(Justificatif.status == status)
    s = ctx.uow.session
    total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    order = Justificatif.created_at.asc() if status == "pending" else Justificatif.created_at.desc()  # oldest waits least
    rows = s.execute(q.order_by(order).offset((page - 1) * page_size).limit(page_size)).scalars().all()
    items = []
    for j in rows:
        view = justificatif_view(j)
        copy = s.get(SharedCopy, j.shared_id)
        if copy is not None:
            view.update(filename=copy.filename, content_type=copy.content_type, size=copy.size)
        view["owner_id"] = j.owner_id
        items.append(view)
    return {"items": items, "page": page, "page_size": page_size, "total": int(total)}


def review_get(ctx: Ctx, caller: Caller, justificatif_id: Any) -> dict[str, Any]:
    _staff(caller)
    j = _any(ctx, justificatif_id)
    view = justificatif_view(j)
    copy = ctx.uow.session.get(SharedCopy, j.shared_id)
    if copy is not None:
        view.update(filename=copy.filename, content_type=copy.content_type, size=copy.size)
    view["owner_id"] = j.owner_id
    return view


def review_read(ctx: Ctx, caller: Caller, justificatif_id: Any, raw: Any = False) -> dict[str, Any]:
    """The review copy's bytes, for an agent (logged in the owner's access log)."""
    _staff(caller)
    j = _any(ctx, justificatif_id)
    copy = ctx.uow.session.get(SharedCopy, j.shared_id)
    if copy is None or copy.status != "active":
        raise JustificatifNotFound()
    return read_shared_row(ctx, caller, copy, raw)


def validate(ctx: Ctx, caller: Caller, justificatif_id: Any, valid_until: Any) -> dict[str, Any]:
    _staff(caller)
    j = _any(ctx, justificatif_id)
    try:
        until = domain.parse_valid_until(valid_until, today())
    except ValueError as exc:
        raise InvalidWalletData(errors={"valid_until": [str(exc)]}) from None
    if j.status != "pending":
        raise WrongState("Ce justificatif a déjà été examiné.")
    j.status, j.valid_until, j.reviewed_by, j.reviewed_at = "validated", until, caller.id, utcnow()
    ctx.uow.emit(events.JUSTIFICATIF_VALIDATED, events.payload(
        account_id=j.owner_id, justificatif_id=j.id, title=j.title, kind=j.kind, kind_label=domain.kind_label(j.kind),
        valid_until=until.isoformat(), url=_url(ctx)))
    ctx.uow.commit()
    return justificatif_view(j)


def refuse(ctx: Ctx, caller: Caller, justificatif_id: Any, reason: Any) -> dict[str, Any]:
    _staff(caller)
    j = _any(ctx, justificatif_id)
    try:
        text = domain.clean_reason(reason)
    except ValueError as exc:
        raise InvalidWalletData(errors={"reason": [str(exc)]}) from None
    if j.status != "pending":
        raise WrongState("Ce justificatif a déjà été examiné.")
    j.status, j.reason, j.reviewed_by, j.reviewed_at = "refused", text, caller.id, utcnow()
    ctx.uow.emit(events.JUSTIFICATIF_REFUSED, events.payload(
        account_id=j.owner_id, justificatif_id=j.id, title=j.title, kind=j.kind, kind_label=domain.kind_label(j.kind),
        reason=text, url=_url(ctx)))
    ctx.uow.commit()
    return justificatif_view(j)


def send_reminders(ctx: Ctx, on: date | None = None) -> int:
    """justificatif_expiring, once per justificatif, 30 days before the end of validity."""
    on = on or today()
    s = ctx.uow.session
    rows = s.execute(select(Justificatif).where(
        Justificatif.status == "validated", Justificatif.expiring_notified_at.is_(None),
        Justificatif.valid_until >= on, Justificatif.valid_until <= on.fromordinal(on.toordinal() + domain.REMINDER_DAYS))
    ).scalars().all()
    sent = 0
    for j in rows:
        if not domain.reminder_due(j.status, j.valid_until, on, j.expiring_notified_at is not None):
            continue
        j.expiring_notified_at = utcnow()
        ctx.uow.emit(events.JUSTIFICATIF_EXPIRING, events.payload(
            account_id=j.owner_id, justificatif_id=j.id, title=j.title, kind=j.kind,
            kind_label=domain.kind_label(j.kind), valid_until=j.valid_until.isoformat() if j.valid_until else None,
            url=_url(ctx)))
        sent += 1
    ctx.uow.commit()
    return sent


__all__ = ["document_view"]
