"""Shared helpers of the démarches gateway tests."""
from __future__ import annotations

import base64
import io
from typing import Any


def pdf(text: str = "Bonjour") -> bytes:
    """A one-page PDF 1.4 with a correct xref table (the wallet checks the content)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


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
