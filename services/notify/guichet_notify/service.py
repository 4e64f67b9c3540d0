"""Notify service entrypoints: event handlers, the inbox RPCs, the mail retry timer."""
from __future__ import annotations

import time
from typing import Any

import eventlet
from guichet_common import events
from guichet_common.auth import Authenticator, Verifier
from guichet_common.db import OUTBOX_FLUSH_S, UnitOfWork
from guichet_common.rpc import RpcProxy, rpc
from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.timer import timer

from . import inbox
from .dependencies import Mailer, NotifyStore, SmtpMailer
from .domain import RetryPolicy
from .exceptions import EXPECTED


def on(source: str, event_type: str) -> Any:
    # requeue_on_error: an event is never dropped because identity was briefly unreachable;
    # the handler is idempotent on event_id so a retry is harmless.
    return event_handler(source, event_type, requeue_on_error=True)


class NotifyService:
    name = "notify"

    uow: UnitOfWork = NotifyStore()
    mailer: Mailer = SmtpMailer()
    config: dict[str, Any] = Config()
    auth: Verifier = Authenticator()
    identity = RpcProxy("identity")

    def _contact(self, account_id: str) -> dict[str, Any] | None:
        return self.identity.contact(account_id)

    def _policy(self) -> RetryPolicy:
        return RetryPolicy.from_config(self.config)

    def _handle(self, event_type: str, payload: dict[str, Any]) -> None:
        try:
            mails = inbox.handle_event(self.uow, self.config, event_type, payload, self._contact)
        except Exception:
            eventlet.sleep(1)  # back off before the message is requeued
            raise
        if mails:
            inbox.deliver(self.uow, self.mailer, (), self._policy(), leased=mails)

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    # --- identity -------------------------------------------------------------
    @on("identity", events.ACCOUNT_REGISTERED)
    def on_account_registered(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_REGISTERED, payload)

    @on("identity", events.ACCOUNT_REGISTER_ATTEMPT_KNOWN)
    def on_account_register_attempt_known(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_REGISTER_ATTEMPT_KNOWN, payload)

    @on("identity", events.ACCOUNT_ACTIVATED)
    def on_account_activated(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_ACTIVATED, payload)

    @on("identity", events.ACCOUNT_LOCKED)
    def on_account_locked(self, payload: dict[str, Any]) -> None:
        self._handle(events.ACCOUNT_LOCKED, payload)

    @on("identity", events.PASSWORD_RESET_REQUESTED)
    def on_password_reset_requested(self, payload: dict[str, Any]) -> None:
        self._handle(events.PASSWORD_RESET_REQUESTED, payload)

    @on("identity", events.PASSWORD_CHANGED)
    def on_password_changed(self, payload: dict[str, Any]) -> None:
        self._handle(events.PASSWORD_CHANGED, payload)

    @on("identity", events.EMAIL_CHANGE_REQUESTED)
    def on_email_change_requested(self, payload: dict[str, Any]) -> None:
        self._handle(events.EMAIL_CHANGE_REQUESTED, payload)

    @on("identity", events.EMAIL_CHANGED)
    def on_email_changed(self, payload: dict[str, Any]) -> None:
        self._handle(events.EMAIL_CHANGED, payload)

    @on("identity", events.CONTACT_CHANGED)
    def on_contact_changed(self, payload: dict[str, Any]) -> None:
        inbox.remember_contact(self.uow, payload)

    @on("identity", events.ACCOUNT_DELETED)
    def on_account_deleted(self, payload: dict[str, Any]) -> None:
        inbox.purge_account(self.uow, payload)

    # --- wallet ---------------------------------------------------------------
    @on("wallet", events.JUSTIFICATIF_VALIDATED)
    def on_justificatif_validated(self, payload: dict[str, Any]) -> None:
        self._handle(events.JUSTIFICATIF_VALIDATED, payload)

    @on("wallet", events.JUSTIFICATIF_REFUSED)
    def on_justificatif_refused(self, payload: dict[str, Any]) -> None:
        self._handle(events.JUSTIFICATIF_REFUSED, payload)

    @on("wallet", events.JUSTIFICATIF_EXPIRING)
    def on_justificatif_expiring(self, payload: dict[str, Any]) -> None:
        self._handle(events.JUSTIFICATIF_EXPIRING, payload)

    # --- demarches ------------------------------------------------------------
    @on("demarches", events.DEMANDE_SUBMITTED)
    def on_demande_submitted(self, payload: dict[str, Any]) -> None:
        self._handle(events.DEMANDE_SUBMITTED, payload)

    @on("demarches", events.DEMANDE_STATUS_CHANGED)
    def on_demande_status_changed(self, payload: dict[str, Any]) -> None:
        self._handle(events.DEMANDE_STATUS_CHANGED, payload)

    @on("demarches", events.DEMANDE_MESSAGE_FROM_AGENT)
    def on_demande_message_from_agent(self, payload: dict[str, Any]) -> None:
        self._handle(events.DEMANDE_MESSAGE_FROM_AGENT, payload)

    @on("demarches", events.DEMANDE_INFO_REQUESTED)
    def on_demande_info_requested(self, payload: dict[str, Any]) -> None:
        self._handle(events.DEMANDE_INFO_REQUESTED, payload)

    # --- the inbox ------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_notifications(self, token: str, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return inbox.list_for(self.uow, caller.id, page, page_size)

    @rpc(expected_exceptions=EXPECTED)
    def unread_count(self, token: str) -> int:
        caller = self.auth.verify(token)
        return inbox.unread_count(self.uow, caller.id)

    @rpc(expected_exceptions=EXPECTED)
    def get_notification(self, token: str, notification_id: str) -> dict[str, Any]:
        caller = self.auth.verify(token)
        return inbox.get_one(self.uow, caller.id, notification_id)

    @rpc(expected_exceptions=EXPECTED)
    def mark_read(self, token: str, notification_id: str) -> None:
        caller = self.auth.verify(token)
        inbox.mark_read(self.uow, caller.id, notification_id)

    @rpc(expected_exceptions=EXPECTED)
    def mark_all_read(self, token: str) -> int:
        caller = self.auth.verify(token)
        return inbox.mark_all_read(self.uow, caller.id)

    @rpc(expected_exceptions=EXPECTED)
    def delete_notification(self, token: str, notification_id: str) -> None:
        caller = self.auth.verify(token)
        inbox.delete_notification(self.uow, caller.id, notification_id)

    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        return inbox.export(self.uow, account_id)

    # --- delivery status (admins, tests, monitoring) --------------------------
    @rpc(expected_exceptions=EXPECTED)
    def mail_deliveries(self, token: str, account_id: str | None = None, status: str | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        self.auth.verify(token).require_role("admin")
        return inbox.deliveries(self.uow, account_id, status, limit)

    @rpc
    def delivery_summary(self) -> dict[str, int]:
        """Counts per status (queued, sent, failed): nothing personal, for monitoring."""
        return inbox.delivery_summary(self.uow)

    # --- delivery -------------------------------------------------------------
    @timer(interval=1)
    def retry_mails(self) -> None:
        deadline = time.monotonic() + 20
        policy = self._policy()
        while time.monotonic() < deadline:
            due = inbox.due_mails(self.uow)
            if not due or inbox.deliver(self.uow, self.mailer, due, policy) == 0:
                return

    @timer(interval=OUTBOX_FLUSH_S)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
