"""Notify service entrypoints: event handlers, the inbox RPCs, the mail retry timer."""
from __future__ import annotations

from typing import Any

from guichet_common import events
from guichet_common.auth import Authenticator, Verifier
from guichet_common.db import UnitOfWork
from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from . import inbox
from .dependencies import Mailer, NotifyStore, SmtpMailer
from .exceptions import EXPECTED


class NotifyService:
    name = "notify"

    uow: UnitOfWork = NotifyStore()
    mailer: Mailer = SmtpMailer()
    config: dict[str, Any] = Config()
    auth: Verifier = Authenticator()
    identity = RpcProxy("identity")

    def _contact(self, account_id: str) -> dict[str, Any] | None:
        return self.identity.contact(account_id)

    def _handle(self, event_type: str, payload: dict[str, Any]) -> None:
        mail_ids = inbox.handle_event(self.uow, self.config["CITY_NAME"], event_type, payload, self._contact)
        for mail_id in mail_ids:
            inbox.deliver(self.uow, self.mailer, mail_id)

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    # --- identity -------------------------------------------------------------
    @event_handler("identity", events.ACCOUNT_REGISTERED)
    def on_account_registered(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_REGISTERED, payload)

    @event_handler("identity", events.ACCOUNT_REGISTER_ATTEMPT_KNOWN)
    def on_account_register_attempt_known(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, payload)

    @event_handler("identity", events.ACCOUNT_ACTIVATED)
    def on_account_activated(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_ACTIVATED, payload)

    # --- the inbox ------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_notifications(self, token: str, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return inbox.list_for(self.uow, caller.id, page, page_size)

    @rpc(expected_exceptions=EXPECTED)
    def mark_read(self, token: str, notification_id: str) -> None:
        caller = self.auth.verify(token)
        inbox.mark_read(self.uow, caller.id, notification_id)

    # --- delivery -------------------------------------------------------------
    @timer(interval=2)
    def retry_mails(self) -> None:
        for mail_id in inbox.due_mails(self.uow):
            inbox.deliver(self.uow, self.mailer, mail_id)

    @timer(interval=10)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
