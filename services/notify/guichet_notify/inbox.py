"""Notify use cases: turn an event into an inbox entry and a stored mail, deliver mails."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from guichet_common import events
from guichet_common.db import UnitOfWork
from sqlalchemy import select, update

from .dependencies import Mailer
from .exceptions import NotificationNotFound
from .models import Notification, OutgoingMail, ProcessedEvent
from .templates import CATALOGUE, render_email

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=60)


def now() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 300))


def handle_event(uow: UnitOfWork, city: str, event_type: str, payload: dict[str, Any],
                 contact: Callable[[str], dict[str, Any] | None]) -> list[str]:
    """Store the inbox entry and the mail for one event, once. Returns mail ids to send now."""
    event_id = str(payload.get("event_id") or "")
    if not event_id or not uow.first_time(ProcessedEvent, event_id, event_type):
        return []
    msg = CATALOGUE[event_type](payload)
    account_id = payload.get("account_id")
    email = payload.get("email")
    wants_email = True
    if account_id and (not email or not msg.security):
        info = contact(account_id)
        if info is None:  # account gone: nothing to notify
            uow.commit()
            return []
        email = email or info.get("email")
        wants_email = bool(info.get("notification_prefs", {}).get("email", True))
    mail_ids = []
    if msg.inbox and account_id:
        note = Notification(id=uuid.uuid4().hex, account_id=account_id, kind=event_type, title=msg.title,
                            body=msg.body, link=msg.link, demande_id=payload.get("demande_id"),
                            read=False, created_at=now())
        uow.session.add(note)
        uow.emit(events.NOTIFICATION_CREATED, events.payload(
            account_id=account_id, notification_id=note.id, title=msg.title))
    if email and (msg.security or wants_email):
        subject, text, html = render_email(msg, city)
        mail_id = f"{event_id}:{event_type}"[:64]
        uow.session.add(OutgoingMail(id=mail_id, account_id=account_id, to_addr=email, subject=subject,
                                     text_body=text, html_body=html, status="queued", attempts=0,
                                     next_attempt_at=now(), created_at=now()))
        mail_ids.append(mail_id)
    uow.commit()
    return mail_ids


def _claim(uow: UnitOfWork, mail_id: str) -> OutgoingMail | None:
    """Take a lease on a due mail so two replicas never send it at once."""
    t = now()
    result = uow.session.execute(
        update(OutgoingMail).where(OutgoingMail.id == mail_id, OutgoingMail.status == "queued",
                                   OutgoingMail.next_attempt_at <= t)
        .values(next_attempt_at=t + LEASE))
    uow.session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return uow.session.get(OutgoingMail, mail_id)


def deliver(uow: UnitOfWork, mailer: Mailer, mail_id: str) -> bool:
    mail = _claim(uow, mail_id)
    if mail is None:
        return False
    try:
        mailer.send(mail.id, mail.to_addr, mail.subject, mail.text_body, mail.html_body)
    except Exception as exc:  # SMTP down or refusing: retry later with backoff
        mail.attempts += 1
        mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if mail.attempts >= MAX_ATTEMPTS:
            mail.status = "failed"
        mail.next_attempt_at = now() + backoff(mail.attempts)
        uow.session.commit()
        log.warning("mail %s not sent (attempt %s): %s", mail.id, mail.attempts, type(exc).__name__)
        return False
    mail.attempts += 1
    mail.status = "sent"
    mail.sent_at = now()
    uow.session.commit()
    return True


def due_mails(uow: UnitOfWork, limit: int = 100) -> list[str]:
    return list(uow.session.execute(
        select(OutgoingMail.id).where(OutgoingMail.status == "queued", OutgoingMail.next_attempt_at <= now())
        .order_by(OutgoingMail.next_attempt_at).limit(limit)).scalars())


def view(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "title": n.title, "body": n.body, "link": n.link, "demande_id": n.demande_id,
            "read": n.read, "kind": n.kind, "created_at": n.created_at.isoformat()}


def list_for(uow: UnitOfWork, account_id: str, page: int = 1, page_size: int = 50) -> dict[str, Any]:
    from sqlalchemy import func

    page = max(1, int(page))
    page_size = min(max(1, int(page_size)), 200)
    s = uow.session
    total = s.execute(select(func.count()).select_from(Notification)
                      .where(Notification.account_id == account_id)).scalar_one()
    unread = s.execute(select(func.count()).select_from(Notification)
                       .where(Notification.account_id == account_id, Notification.read.is_(False))).scalar_one()
    rows = s.execute(select(Notification).where(Notification.account_id == account_id)
                     .order_by(Notification.created_at.desc(), Notification.id.desc())
                     .offset((page - 1) * page_size).limit(page_size)).scalars().all()
    return {"items": [view(n) for n in rows], "page": page, "page_size": page_size, "total": total,
            "unread": unread}


def mark_read(uow: UnitOfWork, account_id: str, notification_id: str) -> None:
    n = uow.session.get(Notification, notification_id)
    if n is None or n.account_id != account_id:
        raise NotificationNotFound()
    n.read = True
    uow.commit()
