"""The demarches service's entrypoints."""
from __future__ import annotations

from typing import Any

from guichet_common.db import UnitOfWork
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from .dependencies import DemarchesStore


class DemarchesService:
    name = "demarches"

    uow: UnitOfWork = DemarchesStore()
    config: dict[str, Any] = Config()

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @timer(interval=10)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
