"""The porte-documents in a real browser on a real stack: upload with a progress bar,
list, download, delete; client-side errors; axe-core clean at every step."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("wallet_samples", ROOT / "services/wallet/tests/samples.py")
assert _spec and _spec.loader
samples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(samples)


def sign_in(app: Any, stack: Any, tag: str) -> dict[str, str]:
    import os

    client = app.test_client()
    addr = f"{tag}-{os.urandom(3).hex()}@example.test"
    r = client.post("/api/v1/accounts", json={"email": addr, "password": "Versailles2026!", "first_name": "Anne",
                                               "last_name": "Martin"})
    assert r.status_code == 202
    token = stack.mail.token(addr, "activation")
    assert client.post("/api/v1/accounts/activate", json={"token": token}).status_code == 200
    pair = client.post("/api/v1/auth/login", json={"email": addr, "password": "Versailles2026!"}).get_json()
    return pair


def test_upload_with_progress_list_download_delete(page, app, stack, live_server, assert_accessible, tmp_path):
    server = live_server(app)
    pair = sign_in(app, stack, "browser-wallet")
    page.context.add_cookies([
        {"name": "guichet_access", "value": pair["access_token"], "url": server.url},
        {"name": "guichet_refresh", "value": pair["refresh_token"], "url": server.url},
    ])
    page.goto(server.url_for("/porte-documents"))
    assert page.locator("h1").inner_text() == "Porte-documents"
    assert page.get_by_text("Votre porte-documents est vide.").is_visible()
    assert_accessible(page)

    # checked in the browser before sending: format, then size
    page.set_input_files("input[type=file]", files=[{"name": "programme.exe", "mimeType": "application/octet-stream",
                                               "buffer": b"MZ" + b"\x00" * 100}])
    page.get_by_role("button", name="Ajouter le document").click()
    summary = page.locator(".govuk-error-summary")
    assert "n’est pas accepté" in summary.inner_text()
    assert "n’est pas accepté" in page.locator("#file-error").inner_text()
    assert_accessible(page)
    page.set_input_files("input[type=file]", files=[{"name": "gros.pdf", "mimeType": "application/pdf",
                                               "buffer": b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)}])
    page.get_by_role("button", name="Ajouter le document").click()
    assert "2 Mo" in page.locator("#file-error").inner_text()

    # a real upload: the progress bar moves, then the document's page opens
    data = samples.pdf("x" * 1_500_000)
    seen: list[str] = []
    page.expose_function("guichetProgress", lambda text: seen.append(text))
    page.evaluate("""() => {
        const el = document.getElementById('upload-progress-text');
        new MutationObserver(() => window.guichetProgress(el.textContent)).observe(el, {childList: true});
    }""")
    page.fill("input#title", "Avis d’imposition")
    page.set_input_files("input[type=file]", files=[{"name": "avis.pdf", "mimeType": "application/pdf", "buffer": data}])
    page.get_by_role("button", name="Ajouter le document").click()
    page.wait_for_url(re.compile(r".*/porte-documents/[0-9a-f]{32}$"))
    assert any(re.fullmatch(r"Envoi en cours : \d+ %", t) for t in seen), seen
    assert "Envoi terminé." in seen or any(t.endswith("100 %") for t in seen), seen
    assert page.locator("h1").inner_text() == "Avis d’imposition"
    assert "a été ajouté" in page.locator(".govuk-notification-banner").inner_text()
    assert_accessible(page)

    # download: the exact bytes
    with page.expect_download() as info:
        page.get_by_role("button", name="Télécharger").click()
    download = info.value
    assert download.suggested_filename == "avis.pdf"
    target = tmp_path / "avis.pdf"
    download.save_as(target)
    assert target.read_bytes() == data

    # the list shows type, size and date
    page.goto(server.url_for("/porte-documents"))
    row = page.locator("#documents tbody tr").first
    cells = row.locator("td").all_inner_texts()
    assert "Avis d’imposition" in cells[0] and cells[1] == "PDF" and cells[2] == "1,4 Mo" and cells[3]
    assert_accessible(page)

    # delete, with a confirmation page
    row.get_by_role("link", name="Avis d’imposition").click()
    page.get_by_role("button", name="Supprimer").click()
    assert page.locator("h1").inner_text().startswith("Supprimer")
    assert_accessible(page)
    page.get_by_role("button", name="Oui, supprimer le document").click()
    page.wait_for_url(server.url_for("/porte-documents"))
    assert "a été supprimé" in page.locator(".govuk-notification-banner").inner_text()
    assert page.get_by_text("Votre porte-documents est vide.").is_visible()
    assert [p for p in page.guichet_problems if "HTTP" in p or "error" in p] == []


def test_agent_reviews_a_justificatif(page, app, stack, live_server, assert_accessible):
    import io
    from datetime import date, timedelta

    server = live_server(app)
    citizen = sign_in(app, stack, "browser-justif")
    client = app.test_client()
    auth = {"Authorization": "Bearer " + citizen["access_token"]}
    r = client.post("/api/v1/wallet/documents", headers=auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(samples.png(40, 20)), "rib.png")})
    doc = r.get_json()
    j = client.post("/api/v1/wallet/justificatifs", headers=auth,
                    json={"document_id": doc["id"], "kind": "rib"}).get_json()
    agent = client.post("/api/v1/auth/login", json={"email": "agent@guichet.test",
                                                     "password": "AgentDemo2026!"}).get_json()
    page.context.add_cookies([
        {"name": "guichet_access", "value": agent["access_token"], "url": server.url},
        {"name": "guichet_refresh", "value": agent["refresh_token"], "url": server.url},
    ])
    page.goto(server.url_for("/backoffice/justificatifs"))
    assert_accessible(page)
    page.locator(f'a[href="/backoffice/justificatifs/{j["id"]}"]').click()
    assert page.locator("h1").inner_text() == "Relevé d’identité bancaire (RIB)"
    assert_accessible(page)
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger le fichier").click()
    assert info.value.suggested_filename == "rib.png"
    # an error is shown beside the date, with a summary
    page.get_by_label("Jour").fill("1")
    page.get_by_label("Mois").fill("1")
    page.get_by_label("Année").fill("2001")
    page.get_by_role("button", name="Valider le justificatif").click()
    assert "dans le futur" in page.locator(".govuk-error-summary").inner_text()
    assert page.get_by_label("Année").input_value() == "2001"
    assert_accessible(page)
    until = date.today() + timedelta(days=365)
    page.get_by_label("Jour").fill(str(until.day))
    page.get_by_label("Mois").fill(str(until.month))
    page.get_by_label("Année").fill(str(until.year))
    page.get_by_role("button", name="Valider le justificatif").click()
    page.wait_for_url(server.url_for("/backoffice/justificatifs"))
    assert "est validé" in page.locator(".govuk-notification-banner").inner_text()
    mine = client.get("/api/v1/wallet/justificatifs", headers=auth).get_json()["items"]
    assert mine[0]["status"] == "validated" and mine[0]["valid_until"] == until.isoformat()
    # the citizen sees the status in the justificatifs section
    page.context.clear_cookies()
    page.context.add_cookies([
        {"name": "guichet_access", "value": citizen["access_token"], "url": server.url},
        {"name": "guichet_refresh", "value": citizen["refresh_token"], "url": server.url},
    ])
    page.goto(server.url_for("/porte-documents/justificatifs"))
    row = page.locator("#justificatifs-table tbody tr").first
    assert "Validé" in row.inner_text() and "Valide jusqu’au" in row.inner_text()
    assert_accessible(page)
    page.goto(server.url_for(f"/porte-documents/{doc['id']}"))
    assert "Agent de la ville" in page.locator("#access-log").inner_text()
    assert_accessible(page)
