"""The wallet service's entrypoints."""
from __future__ import annotations

from typing import Any

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from guichet_common.db import UnitOfWork

from .dependencies import WalletStore


class WalletService:
    name = "wallet"

    uow: UnitOfWork = WalletStore()
    config: dict[str, Any] = Config()

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @timer(interval=10)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
