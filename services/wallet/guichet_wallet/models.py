"""The wallet service's own tables."""
from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from guichet_common.db import OutboxMixin, ProcessedEventMixin


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass
