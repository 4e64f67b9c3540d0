"""The porte-documents through the gateway, on the real stack (all four services)."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import random
import string
from datetime import date, timedelta
from pathlib import Path

import pytest
from guichet_wallet.objectstore import ObjectStore

_spec = importlib.util.spec_from_file_location(
    "wallet_samples", Path(__file__).resolve().parents[2] / "services/wallet/tests/samples.py")
assert _spec and _spec.loader
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

ACCEPTED_LIST = [".doc", ".pdf", ".rtf", ".odt", ".gif", ".jpg", ".jpeg", ".png", ".tif"]
LIMIT = 2 * 1024 * 1024


def upload(person, data: bytes, filename: str = "document.pdf", **fields):
    form = {"file": (io.BytesIO(data), filename), **fields}
    return person.post("/api/v1/wallet/documents", data=form, content_type="multipart/form-data")


def pdf_of_size(n: int) -> bytes:
    pad = n - len(samples.pdf(""))
    while len(samples.pdf("x" * pad)) != n:
        pad += n - len(samples.pdf("x" * pad))
    return samples.pdf("x" * pad)


@pytest.fixture
def anne(make_citizen):
    return make_citizen("wallet-anne")


@pytest.mark.parametrize("kind", sorted(samples.ACCEPTED))
def test_every_accepted_format_round_trips_byte_for_byte(anne, kind):
    build, ext, content_type = samples.ACCEPTED[kind]
    data = build()
    r = upload(anne, data, f"Pièce jointe{ext}", title="Mon titre")
    assert r.status_code == 201, r.get_data(as_text=True)
    doc = r.get_json()
    assert {k: doc[k] for k in ("filename", "size", "content_type", "sha256")} == {
        "filename": f"Pièce jointe{ext}", "size": len(data), "content_type": content_type,
        "sha256": hashlib.sha256(data).hexdigest()}
    r = anne.get(f"/api/v1/wallet/documents/{doc['id']}/content")
    assert r.status_code == 200
    assert r.data == data
    assert r.headers["Content-Type"].startswith(content_type)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and 'filename="Piece jointe' in disposition
    assert "filename*=UTF-8''Pi%C3%A8ce%20jointe" in disposition


@pytest.mark.parametrize("name", ["elf", "pe_exe", "shell_script", "python_script", "html", "html_named.pdf", "svg",
                                  "svg_named.png", "javascript", "zip_named.odt", "jar", "docx_like_zip",
                                  "gif_html_polyglot", "png_header_then_html", "empty"])
def test_refused_by_content_whatever_the_name(anne, name):
    r = upload(anne, samples.REFUSED[name], "attestation.pdf")
    assert r.status_code == 415, r.get_data(as_text=True)
    problem = r.get_json()
    assert r.content_type == "application/problem+json"
    assert problem["accepted"] == ACCEPTED_LIST
    assert ".odt" in problem["detail"]


def test_size_limit_413_states_the_limit(anne):
    assert upload(anne, pdf_of_size(LIMIT), "max.pdf").status_code == 201
    # a little over: passes the Content-Length check, caught while reading
    r = upload(anne, pdf_of_size(LIMIT + 1000), "over.pdf")
    assert r.status_code == 413
    assert "2 Mo" in r.get_json()["detail"] and r.get_json()["limit_bytes"] == LIMIT
    # far over: refused from Content-Length, before reading
    r = upload(anne, pdf_of_size(3 * LIMIT), "far.pdf")
    assert r.status_code == 413 and "2 Mo" in r.get_json()["detail"]
    names = [d["filename"] for d in anne.get("/api/v1/wallet/documents").get_json()["items"]]
    assert names == ["max.pdf"]


def test_missing_file_and_bad_requests_are_4xx(anne):
    r = anne.post("/api/v1/wallet/documents", data={"title": "x"}, content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = anne.post("/api/v1/wallet/documents", json={"file": "x"})
    assert r.status_code == 400
    assert anne.get("/api/v1/wallet/documents/nope/content").status_code == 404


def test_list_rename_delete(anne):
    a = upload(anne, samples.png(), "a.png").get_json()
    b = upload(anne, samples.jpeg(), "b.jpg", title="Photo", kind="identite").get_json()
    items = anne.get("/api/v1/wallet/documents").get_json()["items"]
    assert [d["id"] for d in items] == [b["id"], a["id"]]
    assert items[0]["title"] == "Photo" and items[0]["kind"] == "identite"
    r = anne.patch(f"/api/v1/wallet/documents/{a['id']}", json={"filename": "carte d'identité.png"})
    assert r.status_code == 200 and r.get_json()["filename"] == "carte d'identité.png"
    assert anne.patch(f"/api/v1/wallet/documents/{a['id']}", json={"filename": ""}).status_code == 422
    assert anne.delete(f"/api/v1/wallet/documents/{a['id']}").status_code == 204
    assert anne.get(f"/api/v1/wallet/documents/{a['id']}/content").status_code == 404
    assert [d["id"] for d in anne.get("/api/v1/wallet/documents").get_json()["items"]] == [b["id"]]


def test_another_citizen_and_staff_never_read_a_private_document(anne, make_citizen, agent, admin, client):
    doc = upload(anne, samples.pdf("confidentiel"), "secret.pdf").get_json()
    bob = make_citizen("wallet-bob")
    for other in (bob, agent, admin):
        assert other.get(f"/api/v1/wallet/documents/{doc['id']}").status_code == 404
        assert other.get(f"/api/v1/wallet/documents/{doc['id']}/content").status_code == 404
        assert other.get(f"/api/v1/wallet/documents/{doc['id']}/access-log").status_code == 404
        assert other.patch(f"/api/v1/wallet/documents/{doc['id']}", json={"filename": "x.pdf"}).status_code == 404
        assert other.delete(f"/api/v1/wallet/documents/{doc['id']}").status_code == 404
        assert doc["id"] not in [d["id"] for d in other.get("/api/v1/wallet/documents").get_json()["items"]]
    assert client.get("/api/v1/wallet/documents").status_code == 401
    # a citizen on the back-office routes
    assert bob.get("/api/v1/backoffice/justificatifs").status_code == 403
    assert bob.post(f"/api/v1/backoffice/justificatifs/{doc['id']}/validate",
                    json={"valid_until": "2030-01-01"}).status_code == 403
    assert anne.get(f"/api/v1/wallet/documents/{doc['id']}/content").data == samples.pdf("confidentiel")


def test_justificatif_validated_once_and_access_log(anne, agent, make_citizen):
    doc = upload(anne, samples.pdf("quittance"), "quittance.pdf", title="Quittance de loyer").get_json()
    r = anne.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "domicile"})
    assert r.status_code == 201, r.get_data(as_text=True)
    j = r.get_json()
    assert j["status"] == "pending"
    pending = agent.get("/api/v1/backoffice/justificatifs?status=pending").get_json()["items"]
    assert j["id"] in [p["id"] for p in pending]
    r = agent.get(f"/api/v1/backoffice/justificatifs/{j['id']}/content")
    assert r.status_code == 200 and r.data == samples.pdf("quittance")
    r = agent.post(f"/api/v1/backoffice/justificatifs/{j['id']}/validate", json={"valid_until": "hier"})
    assert r.status_code == 422 and "valid_until" in r.get_json()["errors"]
    until = (date.today() + timedelta(days=365)).isoformat()
    r = agent.post(f"/api/v1/backoffice/justificatifs/{j['id']}/validate", json={"valid_until": until})
    assert r.status_code == 200 and r.get_json()["status"] == "validated"
    assert agent.post(f"/api/v1/backoffice/justificatifs/{j['id']}/refuse",
                      json={"reason": "x"}).status_code == 409
    mine = anne.get("/api/v1/wallet/justificatifs").get_json()["items"]
    assert [(x["id"], x["status"], x["valid_until"]) for x in mine] == [(j["id"], "validated", until)]
    log = anne.get(f"/api/v1/wallet/documents/{doc['id']}/access-log").get_json()["items"]
    assert [(e["actor_role"], e["service"]) for e in log] == [("agent", "portail")]
    # refusal with a reason
    j2 = anne.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "identite"}).get_json()
    assert agent.post(f"/api/v1/backoffice/justificatifs/{j2['id']}/refuse", json={}).status_code == 422
    r = agent.post(f"/api/v1/backoffice/justificatifs/{j2['id']}/refuse", json={"reason": "Illisible"})
    assert r.status_code == 200 and r.get_json()["reason"] == "Illisible"
    bob = make_citizen("wallet-bob2")
    assert bob.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "rib"}).status_code == 404


def test_no_plaintext_in_the_object_store_nor_under_var(anne, stack):
    marker = "".join(random.choices(string.ascii_letters, k=40))
    data = samples.pdf(marker * 2000)
    doc = upload(anne, data, "marqueur.pdf").get_json()
    anne.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "autre"})
    store = ObjectStore.from_config(stack.service_config("wallet")["S3"])
    names = store.list()
    assert len(names) >= 2
    for name in names:
        blob = store.read(name)
        assert marker.encode() not in blob and not blob.startswith(b"%PDF-")  # 5 bytes may turn up by chance inside
    for path in Path(stack.tmp).rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


def test_every_wallet_route_is_in_the_openapi_document(client, gateway_app):
    spec = client.get("/api/v1/openapi.json").get_json()
    for rule in gateway_app.url_map.iter_rules():
        path = rule.rule
        if path.startswith("/api/v1/") and ("wallet" in path or "backoffice/justificatifs" in path):
            documented = path.removeprefix("/api/v1").replace("<document_id>", "{id}").replace("<justificatif_id>", "{id}")
            assert documented in spec["paths"], path


def test_export_lists_the_wallet_and_account_deletion_shreds_it(make_citizen, stack):
    import time

    from sqlalchemy import create_engine, text

    carla = make_citizen("wallet-carla")
    doc = upload(carla, samples.pdf("export"), "export.pdf").get_json()
    me = carla.get("/api/v1/me").get_json()
    r = carla.get("/api/v1/me/export")
    assert r.status_code == 200
    assert doc["id"] in r.get_data(as_text=True)
    store = ObjectStore.from_config(stack.service_config("wallet")["S3"])
    assert store.list(f"{me['id']}/")
    assert carla.delete("/api/v1/me").status_code == 204
    engine = create_engine(stack.service_config("wallet")["DB_URL"])
    deadline = time.monotonic() + 30  # the event travels identity -> broker -> wallet
    try:
        while True:
            with engine.connect() as conn:
                keys = conn.execute(text("SELECT count(*) FROM owner_key WHERE owner_id = :o"), {"o": me["id"]}).scalar()
                docs = conn.execute(text("SELECT count(*) FROM document WHERE owner_id = :o"), {"o": me["id"]}).scalar()
            if (keys, docs) == (0, 0) and not store.list(f"{me['id']}/") or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        engine.dispose()
    assert (keys, docs) == (0, 0)
    assert store.list(f"{me['id']}/") == []


def test_store_down_is_503_with_a_retry_hint(anne, gateway_app, monkeypatch):
    """The wallet's StoreUnavailable (see the broker test with a dead S3 endpoint) reaches
    the client as 503 + Retry-After, for the API and the pages."""
    from guichet_common.errors import Unavailable
    from nameko.exceptions import RemoteError

    pool = gateway_app.extensions["rpc"]
    real = pool.call

    def call(service, method, *args, **kwargs):
        if service == "wallet" and method in ("upload_document", "list_documents"):
            raise RemoteError("StoreUnavailable", str(Unavailable("Le stockage des documents est momentanément "
                                                                  "indisponible. Réessayez dans quelques instants.")))
        return real(service, method, *args, **kwargs)

    monkeypatch.setattr(pool, "call", call)
    r = upload(anne, samples.pdf(), "a.pdf")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "Réessayez" in r.get_json()["detail"]
    assert anne.get("/api/v1/wallet/documents").status_code == 503
    page = gateway_app.test_client()
    page.set_cookie("guichet_access", anne.tokens["access_token"])
    r = page.get("/porte-documents")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "Service momentanément indisponible" in r.get_data(as_text=True)


def test_valid_justificatif_is_taken_by_a_demarche_and_agent_reads_are_logged(anne, agent):
    """Cross-service: a validated identite justificatif fills the démarche's piece without a
    new upload; the agent's read of that piece (through démarches) shows in the owner's log."""
    doc = upload(anne, samples.png(), "cni.png", title="Carte d'identité").get_json()
    j = anne.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "identite"}).get_json()
    until = (date.today() + timedelta(days=300)).isoformat()
    assert agent.post(f"/api/v1/backoffice/justificatifs/{j['id']}/validate",
                      json={"valid_until": until}).status_code == 200
    r = anne.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"})
    assert r.status_code == 201, r.get_data(as_text=True)
    demande_id = r.get_json()["id"]
    steps = {
        "demandeur": {"prenom": "Anne", "nom": "Martin", "courriel": anne.email,
                      "adresse": {"street": "1 rue de la Mairie", "postcode": "78000", "city": "Versailles"}},
        "acte": {"pour_qui": "moi", "date_naissance": "1990-05-17", "type_acte": "copie_integrale", "nombre": 1},
    }
    for step, data in steps.items():
        r = anne.put(f"/api/v1/demandes/{demande_id}/steps/{step}", json={"data": data})
        assert r.status_code == 200, r.get_data(as_text=True)
    # no upload: the valid justificatif fills the required piece
    r = anne.post(f"/api/v1/demandes/{demande_id}/submit")
    assert r.status_code == 200, r.get_data(as_text=True)
    attachments = anne.get(f"/api/v1/demandes/{demande_id}").get_json()["attachments"]
    [piece] = [a for a in attachments if a["requirement"] == "piece_identite"]
    before = anne.get(f"/api/v1/wallet/documents/{doc['id']}/access-log").get_json()["items"]
    r = agent.get(f"/api/v1/backoffice/demandes/{demande_id}/attachments/{piece['id']}")
    assert r.status_code == 200 and r.data == samples.png()
    log = anne.get(f"/api/v1/wallet/documents/{doc['id']}/access-log").get_json()["items"]
    assert len(log) == len(before) + 1
    assert (log[0]["actor_role"], log[0]["service"], log[0]["scope"]) == ("agent", "demarches", f"demande:{demande_id}")


def test_justificatif_decision_reaches_the_citizen_notifications(anne, agent):
    import time

    doc = upload(anne, samples.pdf("rib"), "rib.pdf", title="RIB Banque Populaire").get_json()
    j = anne.post("/api/v1/wallet/justificatifs", json={"document_id": doc["id"], "kind": "rib"}).get_json()
    r = agent.post(f"/api/v1/backoffice/justificatifs/{j['id']}/refuse", json={"reason": "RIB d'un autre titulaire"})
    assert r.status_code == 200
    deadline = time.monotonic() + 30  # wallet outbox -> broker -> notify
    found: list = []
    while not found and time.monotonic() < deadline:
        body = anne.get("/api/v1/notifications").get_json()
        items = body["items"] if isinstance(body, dict) else body
        found = [n for n in items if "RIB Banque Populaire" in (n.get("body") or "")]
        if not found:
            time.sleep(0.3)
    assert found and "RIB d'un autre titulaire" in found[0]["body"]
