"""The demarches service's own tables."""
from __future__ import annotations

from guichet_common.db import OutboxMixin, ProcessedEventMixin
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass
