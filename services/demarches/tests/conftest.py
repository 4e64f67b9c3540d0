"""Démarches containers for broker tests: the real service with a test token signer, and
small stand-ins for identity and wallet answering on the same broker."""
from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from guichet_common import events
from guichet_common.errors import NotFound
from guichet_common.rpc import rpc
from guichet_common.testing.tokens import Person, TestAuth  # noqa: F401 (Person is used by the tests)
from guichet_demarches.service import DemarchesService
from nameko.events import event_handler


class DemarchesUnderTest(DemarchesService):
    auth = TestAuth()  # type: ignore[assignment]


# What the stand-ins answer; tests set these.
STATE: dict[str, Any] = {"roles": {}, "profile": {}, "updates": [], "justificatifs": {}, "shared": {}, "events": []}


class FakeIdentity:
    name = "identity"

    @rpc
    def get_me(self, token: str) -> dict[str, Any]:
        sub = jwt.decode(token, options={"verify_signature": False})["sub"]
        return STATE["profile"].get(sub) or {"first_name": "Anne", "last_name": "Martin", "email": f"{sub}@example.test",
                                             "phone": "", "addresses": [], "household": []}

    @rpc
    def association_role(self, account_id: str, association_id: str) -> str | None:
        role = STATE["roles"].get((account_id, association_id))
        if role == "boom":
            raise RuntimeError("identity failure")
        return role  # type: ignore[no-any-return]

    @rpc
    def update_me(self, token: str, changes: dict[str, Any]) -> dict[str, Any]:
        STATE["updates"].append(changes)
        return changes

    @rpc
    def staff_member(self, account_id: str) -> dict[str, Any] | None:
        return STATE["staff"].get(account_id)  # type: ignore[no-any-return]


class FakeWallet:
    name = "wallet"

    def _share(self, filename: str, content_b64: str) -> dict[str, Any]:
        sid = uuid.uuid4().hex
        STATE["shared"][sid] = {"filename": filename, "content_type": "application/pdf", "size": 3,
                                "content_b64": content_b64}
        return {"shared_id": sid, "filename": filename, "content_type": "application/pdf", "size": 3, "sha256": "x"}

    @rpc
    def store_shared(self, token: str, scope: str, filename: str, content_b64: str) -> dict[str, Any]:
        return self._share(filename, content_b64)

    @rpc(expected_exceptions=(NotFound,))
    def share_document(self, token: str, document_id: str, scope: str) -> dict[str, Any]:
        if document_id == "missing":
            raise NotFound("Document introuvable.")
        return self._share(document_id + ".pdf", "UERG")

    @rpc
    def find_valid_justificatif(self, token: str, kind: str) -> dict[str, Any] | None:
        sub = jwt.decode(token, options={"verify_signature": False})["sub"]
        return STATE["justificatifs"].get((sub, kind))  # type: ignore[no-any-return]

    @rpc
    def share_justificatif(self, token: str, justificatif_id: str, scope: str) -> dict[str, Any]:
        return self._share("justificatif.pdf", "SlVT")

    @rpc
    def read_shared(self, token: str, shared_id: str) -> dict[str, Any]:
        return STATE["shared"][shared_id]  # type: ignore[no-any-return]


class Listener:
    name = "demarches_listener"

    @event_handler("demarches", events.DEMANDE_SUBMITTED)
    def submitted(self, payload: dict[str, Any]) -> None:
        STATE["events"].append((events.DEMANDE_SUBMITTED, payload))

    @event_handler("demarches", events.DEMANDE_STATUS_CHANGED)
    def status_changed(self, payload: dict[str, Any]) -> None:
        STATE["events"].append((events.DEMANDE_STATUS_CHANGED, payload))

    @event_handler("demarches", events.DEMANDE_MESSAGE_FROM_AGENT)
    def message(self, payload: dict[str, Any]) -> None:
        STATE["events"].append((events.DEMANDE_MESSAGE_FROM_AGENT, payload))

    @event_handler("demarches", events.DEMANDE_INFO_REQUESTED)
    def info(self, payload: dict[str, Any]) -> None:
        STATE["events"].append((events.DEMANDE_INFO_REQUESTED, payload))


@pytest.fixture
def services(container_factory: Any, test_env: Any) -> dict[str, Any]:
    STATE.update(roles={}, profile={}, updates=[], justificatifs={}, shared={}, events=[], staff={})
    cfg = test_env.service_config("demarches")
    out = {}
    for cls in (DemarchesUnderTest, FakeIdentity, FakeWallet, Listener):
        container = container_factory(cls, cfg)
        container.start()
        out[cls.name] = container
    return out
