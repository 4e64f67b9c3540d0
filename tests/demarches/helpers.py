"""Shared helpers of the démarches gateway tests."""
from __future__ import annotations

import base64
import io
from typing import Any

from guichet_common.testing import load_samples

pdf = load_samples().pdf  # the same one-page PDF the wallet tests use


ADDRESS = {"street": "3 rue des Lilas", "postcode": "78000", "city": "Versailles"}
ACTE = {"pour_qui": "moi", "date_naissance": "1990-04-12", "type_acte": "copie_integrale", "nombre": 1}


def start_acte(c: Any) -> str:
    r = c.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"})
    assert r.status_code == 201, r.get_data(as_text=True)
    return str(r.get_json()["id"])


def fill_acte(c: Any, did: str) -> None:
    r = c.put(f"/api/v1/demandes/{did}/steps/demandeur", json={"data": {"adresse": ADDRESS}})
    assert r.status_code == 200, r.get_data(as_text=True)
    r = c.put(f"/api/v1/demandes/{did}/steps/acte", json={"data": ACTE})
    assert r.status_code == 200, r.get_data(as_text=True)


def upload(c: Any, did: str, content: bytes | None = None, requirement: str = "piece_identite",
           filename: str = "identite.pdf") -> dict[str, Any]:
    r = c.post(f"/api/v1/demandes/{did}/attachments",
               data={"requirement": requirement, "file": (io.BytesIO(content or pdf()), filename)},
               content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()  # type: ignore[no-any-return]


def submitted_acte(c: Any, content: bytes | None = None) -> tuple[str, str]:
    did = start_acte(c)
    fill_acte(c, did)
    upload(c, did, content)
    r = c.post(f"/api/v1/demandes/{did}/submit")
    assert r.status_code == 200, r.get_data(as_text=True)
    return did, r.get_json()["tracking_number"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
