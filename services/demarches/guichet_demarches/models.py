"""The demarches service's own tables."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from guichet_common.db import OutboxMixin, ProcessedEventMixin, utcnow
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class Demarche(Base):
    """A démarche of the catalogue; its definitions live in versions."""
    __tablename__ = "demarche"
    slug: Mapped[str] = mapped_column(String(80), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    audience: Mapped[str] = mapped_column(String(20), default="individual")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    position: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DemarcheVersion(Base):
    """An immutable definition: a demande keeps the version it was started with."""
    __tablename__ = "demarche_version"
    __table_args__ = (UniqueConstraint("slug", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(ForeignKey("demarche.slug"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="seed")


class Demande(Base):
    __tablename__ = "demande"
    __table_args__ = (
        Index("ix_demande_account_created", "account_id", "created_at"),
        Index("ix_demande_status_updated", "status", "updated_at"),
        Index("ix_demande_demarche_status_updated", "demarche_slug", "status", "updated_at"),
        Index("ix_demande_assigned_updated", "assigned_to", "updated_at"),
        Index("ix_demande_updated", "updated_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    demarche_slug: Mapped[str] = mapped_column(String(80))
    version_id: Mapped[int] = mapped_column(ForeignKey("demarche_version.id"))
    demarche_title: Mapped[str] = mapped_column(String(300))
    association_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(40), default="brouillon")
    tracking_number: Mapped[str | None] = mapped_column(String(24), nullable=True, unique=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    applicant_name: Mapped[str] = mapped_column(String(200), default="")
    applicant_email: Mapped[str] = mapped_column(String(320), default="")
    assigned_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assigned_name: Mapped[str] = mapped_column(String(200), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    anonymised: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Attachment(Base):
    """A piece joined to a demande: a shared copy held (encrypted) by the wallet."""
    __tablename__ = "attachment"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    demande_id: Mapped[str] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    requirement: Mapped[str | None] = mapped_column(String(63), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    shared_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="upload")  # upload | wallet | justificatif
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HistoryEntry(Base):
    __tablename__ = "history_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    demande_id: Mapped[str] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    by_staff: Mapped[bool] = mapped_column(Boolean, default=False)


class Message(Base):
    __tablename__ = "message"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    demande_id: Mapped[str] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(10))  # citizen | agent
    author_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    author_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Note(Base):
    """Internal notes between agents: never shown to the citizen, never exported to them."""
    __tablename__ = "note"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    demande_id: Mapped[str] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyKey(Base):
    """The answer given to (account, operation, key): a replay gets the same answer."""
    __tablename__ = "idempotency_key"
    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
