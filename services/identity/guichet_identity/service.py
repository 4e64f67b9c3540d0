"""Identity service entrypoints: accounts, sessions, profile, keys."""
from __future__ import annotations

from typing import Any

from guichet_common.db import UnitOfWork
from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from . import accounts, keys
from .dependencies import IdentityStore, LocalVerifier
from .exceptions import EXPECTED, AccountNotFound
from .models import Account


class IdentityService:
    name = "identity"

    uow: UnitOfWork = IdentityStore()
    auth: LocalVerifier = LocalVerifier()
    config: dict[str, Any] = Config()

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @rpc
    def jwks(self) -> dict[str, Any]:
        return keys.jwks(self.uow.session)

    @rpc(expected_exceptions=EXPECTED)
    def register(self, email: Any, password: Any, first_name: Any, last_name: Any) -> dict[str, str]:
        accounts.register(self.uow, self.config["BASE_URL"], email, password, first_name, last_name)
        return {"status": "pending"}

    @rpc(expected_exceptions=EXPECTED)
    def activate(self, token: Any) -> dict[str, Any]:
        return accounts.activate(self.uow, token)

    @rpc(expected_exceptions=EXPECTED)
    def login(self, email: Any, password: Any, client: str = "") -> dict[str, Any]:
        return accounts.login(self.uow, self.config, email, password, client)

    @rpc(expected_exceptions=EXPECTED)
    def refresh(self, refresh_token: Any) -> dict[str, Any]:
        return accounts.refresh(self.uow, self.config, refresh_token)

    @rpc(expected_exceptions=EXPECTED)
    def logout(self, refresh_token: Any) -> None:
        accounts.logout(self.uow, refresh_token)

    @rpc(expected_exceptions=EXPECTED)
    def get_me(self, token: str) -> dict[str, Any]:
        caller = self.auth.verify(token)
        acc = self.uow.session.get(Account, caller.id)
        if acc is None or acc.status != "active":
            raise AccountNotFound()
        return accounts.account_view(acc)

    @rpc
    def contact(self, account_id: str) -> dict[str, Any] | None:
        """Where and whether to write to an account (for notify)."""
        acc = self.uow.session.get(Account, account_id)
        if acc is None or acc.status == "deleted":
            return None
        view = accounts.account_view(acc)
        return {"email": acc.email, "first_name": acc.first_name,
                "notification_prefs": view["notification_prefs"]}

    @timer(interval=3600)
    def purge_expired_pending(self) -> None:
        accounts.purge_expired_pending(self.uow)

    @timer(interval=10)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
