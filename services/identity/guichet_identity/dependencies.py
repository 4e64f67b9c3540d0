"""Identity's DependencyProviders."""
from __future__ import annotations

import time
from typing import Any

from guichet_common.auth import Caller, decode, public_keys
from guichet_common.db import Store, make_engine
from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session

from . import keys
from .models import Outbox


def IdentityStore() -> Store:
    return Store(outbox_model=Outbox)


class LocalVerifier(DependencyProvider):
    """Identity verifies access tokens against its own keys (no RPC to itself)."""

    def setup(self) -> None:
        self.engine = make_engine(self.container.config["DB_URL"])
        self._keys: dict[str, Any] = {}
        self._loaded_at = 0.0

    def stop(self) -> None:
        self.engine.dispose()

    def _load(self) -> None:
        # At most once a second: tokens with made-up kids must not turn into a query each.
        if time.monotonic() - self._loaded_at < 1.0 and self._keys:
            return
        with Session(self.engine) as s:
            self._keys = public_keys(keys.jwks(s))
        self._loaded_at = time.monotonic()

    def verify(self, token: str) -> Caller:
        from guichet_common.auth import UnknownKey

        try:
            return Caller.from_claims(decode(token, self._keys))
        except UnknownKey:
            self._load()
            return Caller.from_claims(decode(token, self._keys))

    def get_dependency(self, worker_ctx: Any) -> "LocalVerifier":
        return self
