"""The wallet service's own tables.

Objects live in S3; these rows are their only index and hold the wrapped keys. A row's
`status` is the intent log that keeps rows and objects in step (see objectstore.py):
`pending` (objects being written, hidden), `active`, `deleting` (objects being removed,
hidden). A janitor timer finishes or undoes whatever a crash left half done.
"""
from __future__ import annotations

from datetime import date, datetime

from guichet_common.db import OutboxMixin, ProcessedEventMixin, utcnow
from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


class OwnerKey(Base):
    """One per citizen: 32 random bytes wrapped by the current master key. Deleting the
    row is the crypto-shredding of everything the citizen stored."""
    __tablename__ = "owner_key"
    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StoredObject:
    """Columns shared by documents and shared copies: one encrypted object of N parts."""
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    parts: Mapped[int] = mapped_column(Integer, default=0)
    part_sizes: Mapped[str] = mapped_column(Text, default="")  # plaintext size of each part, comma-separated
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Document(StoredObject, Base):
    __tablename__ = "document"
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SharedCopy(StoredObject, Base):
    """An encrypted copy readable only in its scope ("demande:<id>", "justificatif:<id>")."""
    __tablename__ = "shared_copy"
    scope: Mapped[str] = mapped_column(String(120), index=True)
    document_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class Justificatif(Base):
    __tablename__ = "justificatif"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    shared_id: Mapped[str] = mapped_column(String(32), ForeignKey("shared_copy.id"))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expiring_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AccessLog(Base):
    """Every read of a document or of a shared copy: who, through which service, when."""
    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    shared_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scope: Mapped[str | None] = mapped_column(String(120), nullable=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))  # owner, agent, admin
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    service: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40), default="read")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UploadPart(Base):
    """One received part of a chunked upload (its own encrypted object). A row per part,
    not a counter on the document, so parts sent to different replicas never race."""
    __tablename__ = "upload_part"
    document_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
