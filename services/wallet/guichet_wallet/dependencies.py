"""The wallet service's DependencyProviders: database, master keyring, RPC origin."""
from __future__ import annotations

from typing import Any

from guichet_common.db import Store
from nameko.extensions import DependencyProvider

from .crypto import MasterKeyring
from .models import Outbox
from .objectstore import S3Store  # noqa: F401  (re-exported for service.py)


def WalletStore() -> Store:
    return Store(outbox_model=Outbox)


class Keyring(DependencyProvider):
    """`self.keyring`: the master keys from MASTER_KEY (GUICHET_MASTER_KEY or its _FILE).

    The service refuses to start without one: a wallet must never store unencrypted.
    """

    def setup(self) -> None:
        secret = self.container.config.get("MASTER_KEY")
        if not secret:
            raise RuntimeError("wallet: no master key (set GUICHET_MASTER_KEY or GUICHET_MASTER_KEY_FILE)")
        self.ring = MasterKeyring.from_secret(secret)

    def get_dependency(self, worker_ctx: Any) -> MasterKeyring:
        return self.ring


class CallOrigin(DependencyProvider):
    """`self.origin`: the service that made this RPC, from Nameko's call-id stack (not from
    an argument a caller could forge), for the access log. The gateway's standalone proxy
    shows as "portail"."""

    def get_dependency(self, worker_ctx: Any) -> str:
        stack = list(worker_ctx.call_id_stack or [])
        name = stack[-2].split(".", 1)[0] if len(stack) >= 2 else ""
        if not name or name.startswith("standalone_rpc"):
            return "portail"
        return name[:40]
