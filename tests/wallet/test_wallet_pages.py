"""Porte-documents and justificatif review pages, through the gateway on the real stack."""
from __future__ import annotations

import importlib.util
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "wallet_samples", Path(__file__).resolve().parents[2] / "services/wallet/tests/samples.py")
assert _spec and _spec.loader
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)

pytestmark = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "gateway/guichet_gateway/templating.py").exists(),
    reason="the page layer (templating.py) is not there yet")


def browser(gateway_app, person):
    """A cookie-signed-in client for the pages."""
    c = gateway_app.test_client()
    c.set_cookie("guichet_access", person.tokens["access_token"])
    c.set_cookie("guichet_refresh", person.tokens["refresh_token"])
    return c


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def post_file(c, token: str, data: bytes, name: str, **headers):
    # the CSRF token first: the upload is checked as it streams in
    body = {"csrf_token": token, "title": "", "file": (io.BytesIO(data), name)}
    return c.post("/porte-documents/deposer", data=body, content_type="multipart/form-data", headers=headers)


def test_signed_out_visitor_goes_to_sign_in(gateway_app):
    r = gateway_app.test_client().get("/porte-documents")
    assert r.status_code == 302 and r.headers["Location"].startswith("/connexion")


def test_upload_list_document_page_download_rename_delete(gateway_app, make_citizen):
    c = browser(gateway_app, make_citizen("pages-anne"))
    page = c.get("/porte-documents")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Porte-documents" in html and "Votre porte-documents est vide" in html and "upload-progress-bar" in html
    token = csrf(html)
    assert post_file(c, "forged", samples.pdf(), "a.pdf").status_code == 400
    r = post_file(c, token, samples.pdf("page"), "avis d'impôt.pdf")
    assert r.status_code == 303
    doc_url = r.headers["Location"]
    html = c.get("/porte-documents").get_data(as_text=True)
    assert "avis d&#39;impôt.pdf" in html and "PDF" in html
    html = c.get(doc_url).get_data(as_text=True)
    assert "Journal des consultations" in html and "Personne n’a encore consulté ce document." in html
    r = c.get(doc_url + "/telecharger")
    assert r.status_code == 200 and r.data == samples.pdf("page")
    assert r.headers["Content-Disposition"].startswith("attachment;")
    html = c.get(doc_url).get_data(as_text=True)
    assert "<td class=\"govuk-table__cell\">Vous</td>" in html
    r = c.post(doc_url + "/renommer", data={"csrf_token": token, "filename": "impots-2026.pdf", "title": "Impôts"})
    assert r.status_code == 303
    assert "impots-2026.pdf" in c.get(doc_url).get_data(as_text=True)
    confirm = c.get(doc_url + "/supprimer").get_data(as_text=True)
    assert "Oui, supprimer le document" in confirm
    assert c.post(doc_url + "/supprimer", data={"csrf_token": token}).status_code == 303
    assert c.get(doc_url).status_code == 404


def test_refused_format_and_size_show_errors_beside_the_field(gateway_app, make_citizen):
    c = browser(gateway_app, make_citizen("pages-bob"))
    token = csrf(c.get("/porte-documents").get_data(as_text=True))
    body = {"csrf_token": token, "title": "Ma photo", "file": (io.BytesIO(samples.REFUSED["svg_named.png"]), "photo.png")}
    r = c.post("/porte-documents/deposer", data=body, content_type="multipart/form-data")
    assert r.status_code == 415
    html = r.get_data(as_text=True)
    assert 'value="Ma photo"' in html  # the typed title is kept
    assert "govuk-error-summary" in html and "n’est pas accepté" in html and 'href="#file"' in html
    assert "govuk-form-group--error" in html
    r = post_file(c, token, b"%PDF-1.4\n" + b"x" * (2 * 1024 * 1024 + 10) + b"\n%%EOF\n", "gros.pdf")
    assert r.status_code == 413 and "2 Mo" in r.get_data(as_text=True)
    r = post_file(c, token, samples.REFUSED["html"], "a.pdf", Accept="application/json")
    assert r.status_code == 415 and "n’est pas accepté" in r.get_json()["errors"]["file"][0]
    r = post_file(c, token, samples.png(), "a.png", Accept="application/json")
    assert r.status_code == 201 and r.get_json()["redirect"].startswith("/porte-documents/")


def test_justificatif_submitted_then_reviewed_by_an_agent(gateway_app, make_citizen, agent):
    citizen = make_citizen("pages-carla")
    c = browser(gateway_app, citizen)
    token = csrf(c.get("/porte-documents").get_data(as_text=True))
    doc_url = post_file(c, token, samples.jpeg(), "cni.jpg").headers["Location"]
    r = c.post(doc_url + "/justificatif", data={"csrf_token": token, "kind": ""})
    assert r.status_code == 422 and "Indiquez le type de justificatif" in r.get_data(as_text=True)
    r = c.post(doc_url + "/justificatif", data={"csrf_token": token, "kind": "identite"})
    assert r.status_code == 303
    html = c.get("/porte-documents/justificatifs").get_data(as_text=True)
    assert "En attente de vérification" in html
    assert c.get("/backoffice/justificatifs").status_code == 403
    a = browser(gateway_app, agent)
    html = a.get("/backoffice/justificatifs").get_data(as_text=True)
    link = re.findall(r'href="(/backoffice/justificatifs/[0-9a-f]{32})"', html)[-1]
    html = a.get(link).get_data(as_text=True)
    atoken = csrf(html)
    r = a.get(link + "/fichier")
    assert r.status_code == 200 and r.data == samples.jpeg()
    r = a.post(link + "/valider", data={"csrf_token": atoken, "valid_until-day": "1", "valid_until-month": "1",
                                        "valid_until-year": "2001"})
    assert r.status_code == 422 and "dans le futur" in r.get_data(as_text=True)
    until = date.today() + timedelta(days=400)
    r = a.post(link + "/valider", data={"csrf_token": atoken, "valid_until-day": str(until.day),
                                        "valid_until-month": str(until.month), "valid_until-year": str(until.year)})
    assert r.status_code == 303
    html = c.get("/porte-documents/justificatifs").get_data(as_text=True)
    assert "Validé" in html and "Valide jusqu’au" in html
    html = c.get(doc_url).get_data(as_text=True)
    assert "Agent de la ville" in html and "Vérification de justificatif" in html
