"""The demarches service's entrypoints: catalogue, demandes, back-office."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from guichet_common import events
from guichet_common.auth import Authenticator, Caller, Verifier
from guichet_common.db import OUTBOX_FLUSH_S, UnitOfWork
from guichet_common.errors import ALL, Unavailable, parse_remote
from guichet_common.rpc import RpcProxy, rpc
from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.timer import timer

from . import backoffice, catalogue, demandes
from .dependencies import DemarchesStore
from .exceptions import EXPECTED
from .models import ProcessedEvent

F = TypeVar("F", bound=Callable[..., Any])


def releasing(method: F) -> F:
    """Roll back at once when a use case fails.

    Why: the worker's session is otherwise closed only after the reply, so a row lock
    taken before the failure would be kept while the reply travels and block the next
    request on the same demande for that long.
    """
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception:
            self.uow.rollback()
            raise
    return wrapper  # type: ignore[return-value]


def _relayed(call: Callable[[], Any]) -> Any:
    """Another service's Guichet error becomes ours (same kind), so the gateway maps it."""
    try:
        return call()
    except RemoteError as exc:
        data = parse_remote(exc.value)
        if data is None:
            raise
        cls = {c.kind: c for c in ALL}.get(data.get("kind", ""), Unavailable)
        raise cls(data.get("detail"), errors=data.get("errors"), **(data.get("extra") or {})) from None
    except (RpcTimeout, UnknownService):
        raise Unavailable() from None


class _Ports:
    """The other services, as the use cases see them (demandes.Ports)."""

    def __init__(self, identity: Any, wallet: Any) -> None:
        self.identity, self.wallet = identity, wallet

    def get_me(self, token: str) -> dict[str, Any]:
        return _relayed(lambda: self.identity.get_me(token))  # type: ignore[no-any-return]

    def association_role(self, account_id: str, association_id: str) -> str | None:
        return _relayed(lambda: self.identity.association_role(account_id, association_id))  # type: ignore[no-any-return]

    def update_me(self, token: str, changes: dict[str, Any]) -> dict[str, Any]:
        return _relayed(lambda: self.identity.update_me(token, changes))  # type: ignore[no-any-return]

    def store_shared(self, token: str, scope: str, filename: str, content_b64: str) -> dict[str, Any]:
        return _relayed(lambda: self.wallet.store_shared(token, scope, filename, content_b64))  # type: ignore[no-any-return]

    def share_document(self, token: str, document_id: str, scope: str) -> dict[str, Any]:
        return _relayed(lambda: self.wallet.share_document(token, document_id, scope))  # type: ignore[no-any-return]

    def find_valid_justificatif(self, token: str, kind: str) -> dict[str, Any] | None:
        return _relayed(lambda: self.wallet.find_valid_justificatif(token, kind))  # type: ignore[no-any-return]

    def share_justificatif(self, token: str, justificatif_id: str, scope: str) -> dict[str, Any]:
        return _relayed(lambda: self.wallet.share_justificatif(token, justificatif_id, scope))  # type: ignore[no-any-return]

    def read_shared(self, token: str, shared_id: str) -> dict[str, Any]:
        return _relayed(lambda: self.wallet.read_shared(token, shared_id))  # type: ignore[no-any-return]

    def staff_member(self, account_id: str) -> dict[str, Any] | None:
        return _relayed(lambda: self.identity.staff_member(account_id))  # type: ignore[no-any-return]


class DemarchesService:
    name = "demarches"

    uow: UnitOfWork = DemarchesStore()
    auth: Verifier = Authenticator()
    config: dict[str, Any] = Config()
    identity = RpcProxy("identity")
    wallet = RpcProxy("wallet")

    @property
    def ports(self) -> _Ports:
        return _Ports(self.identity, self.wallet)

    @property
    def base_url(self) -> str:
        return str(self.config.get("BASE_URL", "")).rstrip("/")

    def _caller(self, token: str) -> Caller:
        return self.auth.verify(token)

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    # --- catalogue (public) -----------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def list_demarches(self) -> list[dict[str, Any]]:
        return catalogue.list_public(self.uow.session)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def get_demarche(self, slug: Any) -> dict[str, Any]:
        return catalogue.get_public(self.uow.session, slug)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def admin_list_demarches(self, token: str) -> list[dict[str, Any]]:
        return catalogue.admin_list(self.uow.session, self._caller(token))

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def admin_get_demarche(self, token: str, slug: Any) -> dict[str, Any]:
        return catalogue.admin_get(self.uow.session, self._caller(token), slug)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def admin_create_demarche(self, token: str, definition: Any) -> dict[str, Any]:
        return catalogue.admin_create(self.uow, self._caller(token), definition)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def admin_update_demarche(self, token: str, slug: Any, definition: Any) -> dict[str, Any]:
        return catalogue.admin_update(self.uow, self._caller(token), slug, definition)

    # --- demandes (the caller's own) --------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def create_demande(self, token: str, demarche: Any, association_id: Any = None,
                       idempotency_key: Any = None) -> dict[str, Any]:
        caller = self._caller(token)
        return demandes.create(self.uow, self.ports, token, caller, demarche, association_id, idempotency_key)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def list_demandes(self, token: str, page: Any = 1, page_size: Any = 50) -> dict[str, Any]:
        return demandes.list_own(self.uow.session, self._caller(token), page, page_size)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def get_demande(self, token: str, demande_id: Any) -> dict[str, Any]:
        return demandes.get(self.uow.session, self._caller(token), demande_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def save_step(self, token: str, demande_id: Any, step_id: Any, data: Any) -> dict[str, Any]:
        return demandes.save_step(self.uow, self._caller(token), demande_id, step_id, data)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def patch_demande(self, token: str, demande_id: Any, data: Any) -> dict[str, Any]:
        return demandes.patch(self.uow, self._caller(token), demande_id, data)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def delete_demande(self, token: str, demande_id: Any) -> None:
        demandes.delete_draft(self.uow, self._caller(token), demande_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def cancel_demande(self, token: str, demande_id: Any, comment: Any = "") -> dict[str, Any]:
        return demandes.cancel(self.uow, self.base_url, self._caller(token), demande_id, comment)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def add_attachment(self, token: str, demande_id: Any, requirement: Any, filename: Any = None,
                       content_b64: Any = None, wallet_document_id: Any = None,
                       justificatif_id: Any = None) -> dict[str, Any]:
        return demandes.add_attachment(self.uow, self.ports, token, self._caller(token), demande_id, requirement,
                                       filename, content_b64, wallet_document_id, justificatif_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def remove_attachment(self, token: str, demande_id: Any, attachment_id: Any) -> None:
        demandes.remove_attachment(self.uow, self._caller(token), demande_id, attachment_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def read_own_attachment(self, token: str, demande_id: Any, attachment_id: Any) -> dict[str, Any]:
        return demandes.read_own_attachment(self.uow.session, self.ports, token, self._caller(token), demande_id,
                                            attachment_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def submit_demande(self, token: str, demande_id: Any, idempotency_key: Any = None,
                       update_profile: Any = False) -> dict[str, Any]:
        return demandes.submit(self.uow, self.ports, self.base_url, token, self._caller(token), demande_id,
                               idempotency_key, update_profile)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def list_messages(self, token: str, demande_id: Any) -> list[dict[str, Any]]:
        return demandes.list_messages(self.uow.session, self._caller(token), demande_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def post_message(self, token: str, demande_id: Any, body: Any) -> dict[str, Any]:
        return demandes.post_message(self.uow, self._caller(token), demande_id, body)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def track(self, tracking_number: Any) -> dict[str, Any]:
        return demandes.track(self.uow.session, tracking_number)

    # --- back-office (agent or admin) --------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_list(self, token: str, filters: Any = None, page: Any = 1, page_size: Any = 50,
                with_counts: bool = False) -> dict[str, Any]:
        return backoffice.queue(self.uow.session, self._caller(token), filters if isinstance(filters, dict) else {},
                                page, page_size, bool(with_counts))

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_get(self, token: str, demande_id: Any) -> dict[str, Any]:
        return backoffice.detail(self.uow.session, self._caller(token), demande_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_assign(self, token: str, demande_id: Any, agent_id: Any = None, agent_name: Any = None) -> dict[str, Any]:
        # agent_name: accepted from older gateways and ignored (identity names the colleague)
        return backoffice.assign(self.uow, self.ports, self._caller(token), demande_id, agent_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_transition(self, token: str, demande_id: Any, to: Any, comment: Any = "") -> dict[str, Any]:
        return backoffice.transition(self.uow, self.base_url, self._caller(token), demande_id, to, comment)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_request_info(self, token: str, demande_id: Any, comment: Any) -> dict[str, Any]:
        return backoffice.request_info(self.uow, self.base_url, self._caller(token), demande_id, comment)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_post_message(self, token: str, demande_id: Any, body: Any) -> dict[str, Any]:
        return backoffice.post_message(self.uow, self.base_url, self._caller(token), demande_id, body)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_add_note(self, token: str, demande_id: Any, body: Any) -> dict[str, Any]:
        return backoffice.add_note(self.uow, self._caller(token), demande_id, body)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_read_attachment(self, token: str, demande_id: Any, attachment_id: Any) -> dict[str, Any]:
        return backoffice.read_attachment(self.uow.session, self.ports, token, self._caller(token), demande_id,
                                          attachment_id)

    @rpc(expected_exceptions=EXPECTED)
    @releasing
    def bo_export_csv(self, token: str, filters: Any = None) -> str:
        return backoffice.export_csv(self.uow.session, self._caller(token), filters if isinstance(filters, dict) else {})

    # --- other services ---------------------------------------------------------------
    @rpc
    def count_in_progress(self, account_id: str) -> int:
        return demandes.count_in_progress(self.uow.session, account_id)

    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        return demandes.export_personal_data(self.uow.session, account_id)

    @event_handler("identity", events.ACCOUNT_DELETED)
    def on_account_deleted(self, payload: dict[str, Any]) -> None:
        if not self.uow.first_time(ProcessedEvent, payload["event_id"], "demarches.account_deleted"):
            return
        demandes.forget_account(self.uow, payload["account_id"])

    @timer(interval=OUTBOX_FLUSH_S)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
