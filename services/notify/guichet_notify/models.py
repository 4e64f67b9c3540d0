"""Notify's own tables: the lasting inbox and the outgoing mail queue."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from guichet_common.db import OutboxMixin, ProcessedEventMixin, utcnow
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Notification(Base):
    __tablename__ = "notification"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500), default="")
    demande_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class OutgoingMail(Base):
    """A message is stored before it is sent, and retried until the SMTP server takes it."""
    __tablename__ = "outgoing_mail"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # event id + kind: one mail per event
    account_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Contact(Base):
    """Notify's copy of where and whether to write to an account, kept from identity's
    contact_changed events (asked over RPC only when there is no copy yet). After
    account_deleted only a tombstone stays (no address): a late event for that account
    finds it and writes nothing."""
    __tablename__ = "contact"
    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    notification_prefs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)  # identity's Account.contact_version
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
