"""Shared helpers of notify's broker tests: accounts through identity, events, mail reading."""
from __future__ import annotations

import email
import email.header
import os
import time
from collections.abc import Callable
from email.message import Message
from typing import Any

from guichet_common import events
from guichet_common.rpc import ClusterRpcProxy
from guichet_common.testing.env import MailSink
from nameko.standalone.events import event_dispatcher

PASSWORD = "Versailles2026!"


def subject(m: Message) -> str:
    return str(email.header.make_header(email.header.decode_header(m.get("Subject") or "")))


def html_part(m: Message) -> str:
    for part in m.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")  # type: ignore[union-attr]
    return ""


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def citizen(config: dict[str, Any], mail: MailSink, tag: str = "n") -> dict[str, Any]:
    """Register + activate + sign in through identity's RPCs (activation link from the real mail)."""
    addr = f"{tag}-{os.urandom(4).hex()}@example.test"
    with ClusterRpcProxy(config, timeout=20) as rpc:
        rpc.identity.register(addr, PASSWORD, "Anne", "Martin")
        token = mail.token(addr, "activation")
        assert token, f"no activation mail for {addr}"
        acc = rpc.identity.activate(token)
        pair = rpc.identity.login(addr, PASSWORD, "tests")
        # The activation itself leaves a mail and an entry: wait for them, then start from an empty inbox.
        assert len(mail.to(addr, at_least=2)) == 2
        entries = wait_for(lambda: rpc.notify.list_notifications(pair["access_token"])["items"], 20)
        assert [n["kind"] for n in entries] == [events.ACCOUNT_ACTIVATED]
        rpc.notify.delete_notification(pair["access_token"], entries[0]["id"])
    return {"email": addr, "id": acc["id"], "token": pair["access_token"]}


def dispatcher(config: dict[str, Any]) -> Callable[[str, str, dict[str, Any]], None]:
    return event_dispatcher(config)  # type: ignore[no-any-return]


def sample_payloads(account_id: str, email_addr: str, base_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """One realistic payload per event kind notify turns into a message."""
    demande = {"account_id": account_id, "demande_id": "d" * 32, "demarche_title": "Inscription scolaire",
               "tracking_number": "BLV-7KQ4-93XZ", "url": f"{base_url}/demandes/{'d' * 32}"}
    justif = {"account_id": account_id, "justificatif_id": "j" * 32, "title": "Facture EDF", "kind": "domicile",
              "url": f"{base_url}/porte-documents"}
    ident = {"account_id": account_id, "email": email_addr, "first_name": "Anne"}
    return {
        ("identity", events.ACCOUNT_REGISTERED): {**ident, "activation_url": f"{base_url}/activation?token=abc",
                                                  "valid_hours": 48},
        ("identity", events.ACCOUNT_REGISTER_ATTEMPT_KNOWN): {**ident, "reset_url": f"{base_url}/mot-de-passe-oublie"},
        ("identity", events.ACCOUNT_ACTIVATED): {**ident, "login_url": f"{base_url}/connexion?premiere=1"},
        ("identity", events.ACCOUNT_LOCKED): {**ident, "minutes": 15, "reset_url": f"{base_url}/mot-de-passe-oublie"},
        ("identity", events.PASSWORD_RESET_REQUESTED): {**ident, "reset_url": f"{base_url}/reinitialisation?token=r1"},
        ("identity", events.PASSWORD_CHANGED): {**ident, "reset_url": f"{base_url}/mot-de-passe-oublie"},
        ("identity", events.EMAIL_CHANGE_REQUESTED): {**ident, "confirm_url": f"{base_url}/confirmation?token=c1"},
        ("identity", events.EMAIL_CHANGED): {**ident, "new_email": email_addr},
        ("wallet", events.JUSTIFICATIF_VALIDATED): {**justif, "valid_until": "2027-05-31"},
        ("wallet", events.JUSTIFICATIF_REFUSED): {**justif, "reason": "Document illisible"},
        ("wallet", events.JUSTIFICATIF_EXPIRING): {**justif, "valid_until": "2026-12-25"},
        ("demarches", events.DEMANDE_SUBMITTED): {**demande, "status": "en_attente", "status_label": "En attente"},
        ("demarches", events.DEMANDE_STATUS_CHANGED): {**demande, "status": "en_traitement",
                                                       "status_label": "En cours de traitement",
                                                       "comment": "Dossier complet"},
        ("demarches", events.DEMANDE_MESSAGE_FROM_AGENT): {**demande, "body": "Merci de confirmer l'adresse."},
        ("demarches", events.DEMANDE_INFO_REQUESTED): {**demande, "body": "Il manque le livret de famille."},
    }
