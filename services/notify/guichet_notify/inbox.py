"""Notify use cases: turn an event into an inbox entry and a stored mail, deliver mails,
the inbox itself, purge and export.

Durability: the inbox entry, the mail and the processed-event record are committed in
one transaction before any SMTP traffic, so a redelivered event never makes a second
mail and a crash after the commit leaves the mail queued for the retry timer.
"""
from __future__ import annotations

import logging
import smtplib
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from guichet_common import events
from guichet_common.db import UnitOfWork, as_utc, utcnow
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from . import domain
from .dependencies import LeaseExpired, Mailer
from .exceptions import NotificationNotFound
from .models import Contact, Notification, OutgoingMail, ProcessedEvent
from .templates import CATALOGUE, render_email

log = logging.getLogger(__name__)


now = utcnow
aware = as_utc


def handle_event(uow: UnitOfWork, cfg: dict[str, Any], event_type: str, payload: dict[str, Any],
                 contact: Callable[[str], dict[str, Any] | None]) -> list[OutgoingMail]:
    """Store the inbox entry and the mail for one event, once. Returns the mails it stored,
    already leased to the caller (pass them to `deliver(..., leased=mails)`).

    A copy of an event already handled is recognised by the processed-event key on insert,
    not by a lookup first: copies are rare, the lookup was paid by every event.

    Where and whether to write comes from notify's own copy of the account's contact
    (identity's contact_changed events); `contact` (an RPC to identity) is asked only when
    there is no copy yet. The copy is read with a share lock after the event is recorded,
    so an account_deleted purge running at the same time either comes first (the copy is a
    tombstone: nothing is written) or waits for this commit and then deletes what it wrote."""
    lease_s = domain.RetryPolicy.from_config(cfg).lease_s
    event_id = str(payload.get("event_id") or "")
    if not event_id:
        return []
    msg = CATALOGUE[event_type](payload)
    account_id = payload.get("account_id")
    email = payload.get("email")
    prefs: dict[str, Any] = {}
    if not _record(uow, event_id, event_type):
        return []
    if account_id and (not email or not msg.security):
        copy = _locked_copy(uow, account_id)
        if copy is None:
            # Asked with nothing written: an RPC waits on the network and SQLite must not
            # hold its write lock meanwhile.
            uow.rollback()
            info = contact(account_id)
            if not _record(uow, event_id, event_type):
                return []
            if info:
                _keep_copy(uow, account_id, info)
            copy = _locked_copy(uow, account_id)
        if copy is None or copy.deleted:  # account gone (or never existed): nothing to notify
            uow.commit()
            return []
        email = email or copy.email
        prefs = copy.notification_prefs or {}
    mail_link, inbox_link = domain.split_link(msg.link, cfg.get("BASE_URL", ""))
    if msg.inbox_link is not None:
        inbox_link = domain.split_link(msg.inbox_link, cfg.get("BASE_URL", ""))[1]
    mails: list[OutgoingMail] = []
    if msg.inbox and account_id:
        note = Notification(id=uuid.uuid4().hex, account_id=account_id, kind=event_type, title=msg.title[:200],
                            body=msg.body, link=inbox_link[:500], demande_id=payload.get("demande_id"),
                            read=False, created_at=now())
        uow.session.add(note)
        # The gateway's live stream tells an open page (payload = what the page shows). A
        # hint, not an outboxed event: only open pages listen, and a page that misses it
        # reads the inbox on its next load.
        uow.hint(events.NOTIFICATION_CREATED, events.payload(account_id=account_id, **view(note)))
    if email and domain.wants_email(prefs, msg.category, msg.security):
        from dataclasses import replace

        subject, text, html = render_email(replace(msg, link=mail_link), cfg.get("CITY_NAME", "Guichet"),
                                           cfg.get("BRAND_PRIMARY"))
        mail_id = f"{event_id}:{event_type}"[:64]
        mails.append(OutgoingMail(id=mail_id, account_id=account_id, to_addr=email, subject=subject[:300],
                                  text_body=text, html_body=html, status="queued", attempts=0,
                                  # born leased to this worker, which sends it right after the
                                  # commit (one commit less per mail); the timer takes it over
                                  # only if that fails or the process dies
                                  next_attempt_at=now() + timedelta(seconds=lease_s), created_at=now(),
                                  last_error=""))
        uow.session.add(mails[-1])
    uow.commit()
    return mails


def _record(uow: UnitOfWork, event_id: str, event_type: str) -> bool:
    """Write that this event is being handled; False (nothing written) if it already was,
    here or by another worker at the same time (the unique key refuses the copy)."""
    uow.session.add(ProcessedEvent(event_id=event_id, handler=event_type))
    try:
        uow.session.flush()
    except IntegrityError:
        uow.rollback()
        return False
    return True


def _insert(uow: UnitOfWork) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the database behind the session."""
    if uow.session.get_bind().dialect.name == "postgresql":
        return pg_insert
    return sqlite_insert


def _locked_copy(uow: UnitOfWork, account_id: str) -> Contact | None:
    return uow.session.execute(
        select(Contact).where(Contact.account_id == account_id).with_for_update(read=True)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def _keep_copy(uow: UnitOfWork, account_id: str, info: dict[str, Any]) -> None:
    """The copy identity just gave; a copy (or tombstone) written meanwhile wins."""
    uow.session.execute(_insert(uow)(Contact).values(
        account_id=account_id, email=str(info.get("email") or ""),
        notification_prefs=info.get("notification_prefs") or {}, version=int(info.get("version") or 0),
        deleted=False, updated_at=now()).on_conflict_do_nothing(index_elements=[Contact.account_id]))


def remember_contact(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """identity.contact_changed: keep the newest copy (events may arrive out of order or
    twice: the version decides); never over a tombstone."""
    account_id, version = payload.get("account_id"), payload.get("version")
    if not isinstance(account_id, str) or not isinstance(version, int) or not payload.get("email"):
        return
    values = {"email": str(payload["email"]), "notification_prefs": payload.get("notification_prefs") or {},
              "version": version, "updated_at": now()}
    stmt = _insert(uow)(Contact).values(account_id=account_id, deleted=False, **values)
    uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[Contact.account_id], set_=values,
        where=(Contact.version < version) & Contact.deleted.is_(False)))
    uow.commit()


# --- delivery -----------------------------------------------------------------


def _claim(uow: UnitOfWork, mail_id: str, policy: domain.RetryPolicy) -> OutgoingMail | None:
    """Take a lease on a due mail so two replicas (or a timer and a handler) never send it at once."""
    t = now()
    result = uow.session.execute(
        update(OutgoingMail).where(OutgoingMail.id == mail_id, OutgoingMail.status == "queued",
                                   OutgoingMail.next_attempt_at <= t)
        .values(next_attempt_at=t + timedelta(seconds=policy.lease_s)))
    uow.session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return uow.session.get(OutgoingMail, mail_id, populate_existing=True)  # the lease just written


def _release(uow: UnitOfWork, mails: Iterable[OutgoingMail], delay_s: float, error: str) -> None:
    """The server could not be reached: not the messages' fault, no attempt counted."""
    for mail in mails:
        mail.next_attempt_at = now() + timedelta(seconds=delay_s)
        mail.last_error = error[:500]
    uow.session.commit()


def _unsent(uow: UnitOfWork, mail: OutgoingMail, mailer: Mailer | None = None) -> None:
    """Recorded as sent before the reply, but the reply never came: back in the queue."""
    if mail.status == "sent":
        if mailer is not None and mailer.journal is not None:
            mailer.journal.record(mail.id, "queued")
        mail.status = "queued"
        mail.attempts -= 1
        mail.sent_at = None


def _refused(uow: UnitOfWork, mail: OutgoingMail, exc: Exception, policy: domain.RetryPolicy,
             mailer: Mailer | None = None) -> None:
    _unsent(uow, mail, mailer)
    mail.attempts += 1
    mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
    too_old = (aware(mail.created_at) or now()) < now() - timedelta(seconds=policy.max_age_s)
    if mail.attempts >= policy.max_attempts or too_old:
        mail.status = "failed"
    mail.next_attempt_at = now() + timedelta(seconds=policy.delay(mail.attempts))
    uow.session.commit()
    log.warning("mail %s refused (attempt %s/%s): %s", mail.id, mail.attempts, policy.max_attempts,
                type(exc).__name__)


def deliver(uow: UnitOfWork, mailer: Mailer, mail_ids: Iterable[str], policy: domain.RetryPolicy,
            leased: Iterable[OutgoingMail] = ()) -> int:
    """Send the given due mails over one SMTP session. Returns how many were sent.

    A mail is recorded as sent once the whole message is on the wire, before the server's
    reply (see RecordingSMTP): first a line in the local journal (replayed after a crash),
    then the database. The window left for a duplicate is a crash between the message's last
    byte and that journal line, with no yield between them (SMTP has no way to ask the server
    afterwards); the Message-ID is stable so a copy stays recognisable.
    """
    # leased: just stored by handle_event with a lease for us (the objects, still in the session)
    claimed = list(leased) + [m for m in (_claim(uow, i, policy) for i in mail_ids) if m is not None]
    if not claimed:
        return 0
    # Stop before the earliest of these leases runs out (with a margin): a slow session must
    # never send a mail that another sender may have claimed once its lease expired.
    lease_until = min(aware(m.next_attempt_at) or now() for m in claimed)
    send_by = time.monotonic() + (lease_until - now()).total_seconds() - policy.lease_s * 0.3
    try:
        smtp = mailer.checkout()
    except (OSError, smtplib.SMTPException) as exc:
        _release(uow, claimed, policy.base_s, f"connexion SMTP : {type(exc).__name__}")
        return 0
    sent = 0
    clean = False  # the session is given back for reuse only if no error broke it
    try:
        for i, mail in enumerate(claimed):
            msg = mailer.build(mail.id, mail.to_addr, mail.subject, mail.text_body, mail.html_body)

            def record_sent(mail: OutgoingMail = mail) -> None:
                if mailer.journal is not None:
                    mailer.journal.record(mail.id)  # first: no yield between the wire and this
                mail.status = "sent"
                mail.attempts += 1
                mail.sent_at = now()
                uow.session.commit()

            smtp.before_reply = record_sent
            smtp.send_by = send_by
            try:
                refused = mailer.transmit(smtp, msg)
            except LeaseExpired:  # not sent; whoever holds it now will send it
                try:
                    smtp.rset()
                except (OSError, smtplib.SMTPException):
                    return sent
                continue
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                _refused(uow, mail, exc, policy, mailer)
                try:
                    smtp.rset()
                except (OSError, smtplib.SMTPException):
                    _release(uow, claimed[i + 1:], policy.base_s, "session SMTP interrompue")
                    return sent
                continue
            except (OSError, smtplib.SMTPException) as exc:  # the session broke: retry these later
                _unsent(uow, mail, mailer)
                _release(uow, claimed[i:], policy.base_s, f"session SMTP : {type(exc).__name__}")
                return sent
            if refused:
                mail.last_error = f"refusé pour {', '.join(refused)}"[:500]
                uow.session.commit()
            sent += 1
        clean = True
    finally:
        mailer.checkin(smtp, clean)
    return sent


def replay_journal(session: Any, states: dict[str, str]) -> int:
    """Mark sent the mails a dead process put on the wire but had not recorded in the database."""
    sent = [mail_id for mail_id, state in states.items() if state == "sent"]
    done = 0
    for start in range(0, len(sent), 500):
        result = session.execute(
            update(OutgoingMail).where(OutgoingMail.id.in_(sent[start:start + 500]), OutgoingMail.status == "queued")
            .values(status="sent", sent_at=now(), attempts=OutgoingMail.attempts + 1,
                    last_error="envoyé avant l'arrêt du service (journal)"))
        done += int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.commit()
    if done:
        log.info("journal: %s mails recorded as sent after a restart", done)
    return done


def due_mails(uow: UnitOfWork, limit: int = 50) -> list[str]:
    ids = list(uow.session.execute(
        select(OutgoingMail.id).where(OutgoingMail.status == "queued", OutgoingMail.next_attempt_at <= now())
        .order_by(OutgoingMail.next_attempt_at).limit(limit)).scalars())
    uow.session.commit()  # end the read transaction (SQLite WAL snapshot)
    return ids


def mail_view(m: OutgoingMail) -> dict[str, Any]:
    return {"id": m.id, "account_id": m.account_id, "to": m.to_addr, "subject": m.subject, "status": m.status,
            "attempts": m.attempts, "last_error": m.last_error,
            "created_at": aware(m.created_at).isoformat(),  # type: ignore[union-attr]
            "sent_at": aware(m.sent_at).isoformat() if m.sent_at else None}  # type: ignore[union-attr]


def deliveries(uow: UnitOfWork, account_id: str | None = None, status: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    q = select(OutgoingMail)
    if account_id:
        q = q.where(OutgoingMail.account_id == account_id)
    if status:
        q = q.where(OutgoingMail.status == status)
    rows = uow.session.execute(q.order_by(OutgoingMail.created_at.desc()).limit(min(max(1, int(limit)), 500)))
    return [mail_view(m) for m in rows.scalars()]


def delivery_summary(uow: UnitOfWork) -> dict[str, int]:
    rows = uow.session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status)).all()
    summary = {"queued": 0, "sent": 0, "failed": 0}
    summary.update({status: int(n) for status, n in rows})
    return summary


# --- the inbox ----------------------------------------------------------------


def view(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "title": n.title, "body": n.body, "link": n.link, "demande_id": n.demande_id,
            "read": n.read, "kind": n.kind, "created_at": aware(n.created_at).isoformat()}  # type: ignore[union-attr]


def _page(value: Any, default: int, high: int) -> int:
    try:
        return min(max(1, int(value)), high)
    except (TypeError, ValueError):
        return default


def unread_count(uow: UnitOfWork, account_id: str) -> int:
    return int(uow.session.execute(select(func.count()).select_from(Notification).where(
        Notification.account_id == account_id, Notification.read.is_(False))).scalar_one())


def list_for(uow: UnitOfWork, account_id: str, page: Any = 1, page_size: Any = 50) -> dict[str, Any]:
    page = _page(page, 1, 10**6)
    page_size = _page(page_size, 50, 200)
    s = uow.session
    total = s.execute(select(func.count()).select_from(Notification)
                      .where(Notification.account_id == account_id)).scalar_one()
    rows = s.execute(select(Notification).where(Notification.account_id == account_id)
                     .order_by(Notification.created_at.desc(), Notification.id.desc())
                     .offset((page - 1) * page_size).limit(page_size)).scalars().all()
    return {"items": [view(n) for n in rows], "page": page, "page_size": page_size, "total": total,
            "unread": unread_count(uow, account_id)}


def _own(uow: UnitOfWork, account_id: str, notification_id: Any) -> Notification:
    n = uow.session.get(Notification, notification_id) if isinstance(notification_id, str) else None
    if n is None or n.account_id != account_id:  # another person's: as if it did not exist
        raise NotificationNotFound()
    return n


def get_one(uow: UnitOfWork, account_id: str, notification_id: Any) -> dict[str, Any]:
    return view(_own(uow, account_id, notification_id))


def mark_read(uow: UnitOfWork, account_id: str, notification_id: Any) -> None:
    _own(uow, account_id, notification_id).read = True
    uow.commit()


def mark_all_read(uow: UnitOfWork, account_id: str) -> int:
    result = uow.session.execute(update(Notification).where(
        Notification.account_id == account_id, Notification.read.is_(False)).values(read=True))
    uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_notification(uow: UnitOfWork, account_id: str, notification_id: Any) -> None:
    uow.session.delete(_own(uow, account_id, notification_id))
    uow.commit()


def purge_account(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """identity.account_deleted: the inbox and every stored mail of that account go."""
    event_id = str(payload.get("event_id") or "")
    account_id = payload.get("account_id")
    if not event_id or not account_id or not uow.first_time(ProcessedEvent, event_id, events.ACCOUNT_DELETED):
        uow.rollback()
        return
    # The tombstone first: on PostgreSQL it waits for any event being stored for this
    # account (it holds the copy with a share lock), so the deletes below see its rows.
    gone = {"email": "", "notification_prefs": {}, "deleted": True, "updated_at": now()}
    uow.session.execute(_insert(uow)(Contact).values(account_id=account_id, version=0, **gone)
                        .on_conflict_do_update(index_elements=[Contact.account_id], set_=gone))
    uow.session.execute(delete(Notification).where(Notification.account_id == account_id))
    uow.session.execute(delete(OutgoingMail).where(OutgoingMail.account_id == account_id))
    uow.commit()


def export(uow: UnitOfWork, account_id: str) -> dict[str, Any]:
    notes = uow.session.execute(select(Notification).where(Notification.account_id == account_id)
                                .order_by(Notification.created_at.desc())).scalars()
    mails = uow.session.execute(select(OutgoingMail).where(OutgoingMail.account_id == account_id)
                                .order_by(OutgoingMail.created_at.desc())).scalars()
    copy = uow.session.get(Contact, account_id)
    return {"contact": ({"email": copy.email, "notification_prefs": copy.notification_prefs}
                        if copy is not None and not copy.deleted else None),
            "notifications": [view(n) for n in notes],
            "emails": [{k: v for k, v in mail_view(m).items() if k not in ("account_id", "last_error")}
                       | {"text": m.text_body} for m in mails]}
