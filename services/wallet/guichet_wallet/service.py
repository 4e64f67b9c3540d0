"""The wallet service's entrypoints: the encrypted porte-documents, shared copies with an
access log, justificatifs. Logic lives in documents.py and justificatifs.py."""
from __future__ import annotations

from typing import Any

from guichet_common import events
from guichet_common.auth import Authenticator, Caller, Verifier
from guichet_common.db import OUTBOX_FLUSH_S, UnitOfWork
from guichet_common.rpc import rpc
from nameko.dependency_providers import Config
from nameko.events import SERVICE_POOL, event_handler
from nameko.timer import timer

from . import documents as docs
from . import justificatifs as justifs
from .crypto import MasterKeyring
from .dependencies import CallOrigin, Keyring, S3Store, WalletStore
from .exceptions import EXPECTED
from .models import ProcessedEvent
from .objectstore import ObjectStore


class WalletService:
    name = "wallet"

    uow: UnitOfWork = WalletStore()
    auth: Verifier = Authenticator()
    store: ObjectStore = S3Store()
    keyring: MasterKeyring = Keyring()
    origin: str = CallOrigin()
    config: dict[str, Any] = Config()

    def _ctx(self) -> docs.Ctx:
        return docs.Ctx(self.uow, self.store, self.keyring, self.config, self.origin)

    def _caller(self, token: Any) -> Caller:
        return self.auth.verify(token)

    @rpc
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @rpc
    def limits(self) -> dict[str, Any]:
        from .formats import ACCEPTED

        return {"max_upload_bytes": self._ctx().max_upload, "quota_bytes": self._ctx().quota,
                "part_size": docs.domain.PART_SIZE, "accepted": list(ACCEPTED)}

    # --- documents
    # File bytes: the upload RPCs take `content_b64` as base64 text or as raw bytes (from a
    # MessagePack caller); the read RPCs answer `content_b64` (base64), or `content` (raw
    # bytes) when called with raw=True.
    @rpc(expected_exceptions=EXPECTED)
    def upload_document(self, token: str, filename: Any, content_b64: Any, title: Any = None, kind: Any = None
                        ) -> dict[str, Any]:
        return docs.upload(self._ctx(), self._caller(token), filename, content_b64, title, kind)

    @rpc(expected_exceptions=EXPECTED)
    def begin_upload(self, token: str, filename: Any, size: Any = None, title: Any = None, kind: Any = None
                     ) -> dict[str, Any]:
        return docs.begin_upload(self._ctx(), self._caller(token), filename, size, title, kind)

    @rpc(expected_exceptions=EXPECTED)
    def upload_part(self, token: str, upload_id: Any, index: Any, content_b64: Any) -> dict[str, Any]:
        return docs.upload_part(self._ctx(), self._caller(token), upload_id, index, content_b64)

    @rpc(expected_exceptions=EXPECTED)
    def finish_upload(self, token: str, upload_id: Any, title: Any = None, kind: Any = None) -> dict[str, Any]:
        return docs.finish_upload(self._ctx(), self._caller(token), upload_id, title, kind)

    @rpc(expected_exceptions=EXPECTED)
    def abort_upload(self, token: str, upload_id: Any) -> None:
        docs.abort_upload(self._ctx(), self._caller(token), upload_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_documents(self, token: str, page: Any = 1, page_size: Any = 50) -> dict[str, Any]:
        return docs.list_documents(self._ctx(), self._caller(token), page, page_size)

    @rpc(expected_exceptions=EXPECTED)
    def get_document(self, token: str, document_id: Any) -> dict[str, Any]:
        return docs.get_document(self._ctx(), self._caller(token), document_id)

    @rpc(expected_exceptions=EXPECTED)
    def read_document(self, token: str, document_id: Any, raw: Any = False) -> dict[str, Any]:
        return docs.read_document(self._ctx(), self._caller(token), document_id, raw)

    @rpc(expected_exceptions=EXPECTED)
    def read_document_part(self, token: str, document_id: Any, index: Any, raw: Any = False) -> dict[str, Any]:
        return docs.read_document_part(self._ctx(), self._caller(token), document_id, index, raw)

    @rpc(expected_exceptions=EXPECTED)
    def rename_document(self, token: str, document_id: Any, filename: Any = None, title: Any = None
                        ) -> dict[str, Any]:
        return docs.rename_document(self._ctx(), self._caller(token), document_id, filename, title)

    @rpc(expected_exceptions=EXPECTED)
    def delete_document(self, token: str, document_id: Any) -> None:
        docs.delete_document(self._ctx(), self._caller(token), document_id)

    @rpc(expected_exceptions=EXPECTED)
    def access_log(self, token: str, document_id: Any) -> list[dict[str, Any]]:
        return docs.access_log(self._ctx(), self._caller(token), document_id)

    # --- sharing
    @rpc(expected_exceptions=EXPECTED)
    def share_document(self, token: str, document_id: Any, scope: Any) -> dict[str, Any]:
        return docs.share_document(self._ctx(), self._caller(token), document_id, scope)

    @rpc(expected_exceptions=EXPECTED)
    def store_shared(self, token: str, scope: Any, filename: Any, content_b64: Any) -> dict[str, Any]:
        return docs.store_shared(self._ctx(), self._caller(token), scope, filename, content_b64)

    @rpc(expected_exceptions=EXPECTED)
    def get_shared(self, token: str, shared_id: Any) -> dict[str, Any]:
        return docs.get_shared(self._ctx(), self._caller(token), shared_id)

    @rpc(expected_exceptions=EXPECTED)
    def read_shared(self, token: str, shared_id: Any, raw: Any = False) -> dict[str, Any]:
        return docs.read_shared(self._ctx(), self._caller(token), shared_id, raw)

    # --- justificatifs
    @rpc(expected_exceptions=EXPECTED)
    def submit_justificatif(self, token: str, document_id: Any, kind: Any) -> dict[str, Any]:
        return justifs.submit(self._ctx(), self._caller(token), document_id, kind)

    @rpc(expected_exceptions=EXPECTED)
    def list_justificatifs(self, token: str) -> list[dict[str, Any]]:
        return justifs.list_mine(self._ctx(), self._caller(token))

    @rpc(expected_exceptions=EXPECTED)
    def find_valid_justificatif(self, token: str, kind: Any) -> dict[str, Any] | None:
        return justifs.find_valid(self._ctx(), self._caller(token), kind)

    @rpc(expected_exceptions=EXPECTED)
    def share_justificatif(self, token: str, justificatif_id: Any, scope: Any) -> dict[str, Any]:
        return justifs.share(self._ctx(), self._caller(token), justificatif_id, scope)

    @rpc(expected_exceptions=EXPECTED)
    def review_justificatifs(self, token: str, status: Any = "pending", page: Any = 1, page_size: Any = 50
                             ) -> dict[str, Any]:
        return justifs.review_list(self._ctx(), self._caller(token), status, page, page_size)

    @rpc(expected_exceptions=EXPECTED)
    def review_justificatif(self, token: str, justificatif_id: Any) -> dict[str, Any]:
        return justifs.review_get(self._ctx(), self._caller(token), justificatif_id)

    @rpc(expected_exceptions=EXPECTED)
    def read_justificatif(self, token: str, justificatif_id: Any, raw: Any = False) -> dict[str, Any]:
        return justifs.review_read(self._ctx(), self._caller(token), justificatif_id, raw)

    @rpc(expected_exceptions=EXPECTED)
    def validate_justificatif(self, token: str, justificatif_id: Any, valid_until: Any) -> dict[str, Any]:
        return justifs.validate(self._ctx(), self._caller(token), justificatif_id, valid_until)

    @rpc(expected_exceptions=EXPECTED)
    def refuse_justificatif(self, token: str, justificatif_id: Any, reason: Any) -> dict[str, Any]:
        return justifs.refuse(self._ctx(), self._caller(token), justificatif_id, reason)

    # --- personal data, keys
    @rpc
    def export_personal_data(self, account_id: str) -> dict[str, Any]:
        return docs.export(self._ctx(), account_id)

    @rpc
    def rewrap_owner_keys(self, limit: int = 500) -> dict[str, int]:
        return docs.rewrap_owner_keys(self._ctx(), limit)

    @event_handler("identity", events.ACCOUNT_DELETED, handler_type=SERVICE_POOL, reliable_delivery=True)
    def on_account_deleted(self, payload: dict[str, Any]) -> None:
        if not self.uow.first_time(ProcessedEvent, payload["event_id"], "wallet.account_deleted"):
            return
        docs.shred_owner(self._ctx(), str(payload["account_id"]))

    # --- timers
    @timer(interval=3600)
    def justificatif_reminders(self) -> None:
        justifs.send_reminders(self._ctx())

    @timer(interval=300)
    def rotate_and_clean(self) -> None:
        """Finishes a master-key rotation after deploy, and what crashes left half done."""
        ctx = self._ctx()
        docs.rewrap_owner_keys(ctx)
        docs.janitor(ctx)

    @timer(interval=OUTBOX_FLUSH_S)
    def flush_outbox(self) -> None:
        self.uow.flush_outbox()
