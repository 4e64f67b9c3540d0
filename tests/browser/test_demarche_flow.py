"""A démarche in a real browser on a real stack: a citizen files "Demande d'acte de
naissance" through every step with a piece from the porte-documents, finds it in "Mes
demandes" and by tracking number; an agent processes it to "clos" with a message.
axe-core clean on every page."""
from __future__ import annotations

import base64
import os
import re
from typing import Any

from guichet_common.testing import load_samples

pdf = load_samples().pdf  # the same one-page PDF the wallet tests use


def sign_up(app: Any, stack: Any, tag: str) -> dict[str, str]:
    client = app.test_client()
    addr = f"{tag}-{os.urandom(3).hex()}@example.test"
    r = client.post("/api/v1/accounts", json={"email": addr, "password": "Versailles2026!", "first_name": "Camille",
                                               "last_name": "Durand"})
    assert r.status_code == 202
    token = stack.mail.token(addr, "activation")
    assert client.post("/api/v1/accounts/activate", json={"token": token}).status_code == 200
    pair = client.post("/api/v1/auth/login", json={"email": addr, "password": "Versailles2026!"}).get_json()
    return dict(pair, email=addr)


def log_in(app: Any, email: str, password: str) -> dict[str, str]:
    r = app.test_client().post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200
    return r.get_json()  # type: ignore[no-any-return]


def use_session(page: Any, server: Any, pair: dict[str, str]) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([
        {"name": "guichet_access", "value": pair["access_token"], "url": server.url},
        {"name": "guichet_refresh", "value": pair["refresh_token"], "url": server.url},
    ])


def test_citizen_files_a_demarche_and_an_agent_closes_it(page, app, stack, live_server, assert_accessible):
    server = live_server(app)
    citizen = sign_up(app, stack, "browser-demarche")
    # the piece is in the porte-documents first (uploaded through the API)
    up = app.extensions["rpc"].call("wallet", "upload_document", citizen["access_token"], "passeport.pdf",
                                    base64.b64encode(pdf("Passeport")).decode(), "Mon passeport")
    assert up["id"]

    # the public home page: catalogue with (@) and the tracking box
    page.goto(server.url_for("/"))
    assert "Demande d'acte de naissance (@)" in page.locator("main").inner_text()
    assert page.get_by_label("Numéro de suivi").is_visible()
    assert_accessible(page)

    use_session(page, server, citizen)
    page.goto(server.url_for("/demarches/acte-de-naissance"))
    assert_accessible(page)
    page.get_by_role("button", name="Commencer").click()
    page.wait_for_url(re.compile(r"/demandes/[0-9a-f]+/etapes/demandeur$"))
    demande_id = page.url.split("/")[-3]
    assert page.get_by_label("Prénom").input_value() == "Camille"  # pre-filled from the account
    assert_accessible(page)

    # step 1, first with an error
    page.get_by_label("Adresse électronique").fill("pas-une-adresse")
    page.get_by_role("button", name="Suivant").click()
    assert "Il y a un problème" in page.locator(".govuk-error-summary").inner_text()
    assert_accessible(page)
    page.get_by_label("Adresse électronique").fill(citizen["email"])
    page.get_by_label("Numéro et voie").fill("12 avenue de Paris")
    page.get_by_label("Code postal").fill("78000")
    page.get_by_label("Commune").fill("Versailles")
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url(re.compile(r"/etapes/acte$"))
    assert "Vos réponses ont été enregistrées." in page.locator("main").inner_text()
    assert_accessible(page)

    # step 2
    page.get_by_label("Pour moi-même").check()
    page.get_by_label("Date de naissance").fill("1990-04-12")
    page.get_by_label("Copie intégrale").check()
    page.get_by_label("Nombre d'exemplaires").fill("1")
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url(re.compile(r"/pieces$"))
    assert_accessible(page)

    # the piece, chosen from the porte-documents
    page.get_by_label("Choisir dans mon porte-documents").select_option(label="Mon passeport")
    page.get_by_role("button", name="Joindre : Pièce d'identité du demandeur").click()
    assert "La pièce a été jointe" in page.locator("main").inner_text()
    page.get_by_role("link", name="Suivant").click()
    page.wait_for_url(re.compile(r"/recapitulatif$"))
    assert "passeport.pdf" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(rf"/demandes/{demande_id}$"))
    text = page.locator("main").inner_text()
    number = re.search(r"GU-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text).group(0)  # type: ignore[union-attr]
    assert "En attente" in text
    assert_accessible(page)

    page.goto(server.url_for("/demandes"))
    assert number in page.locator("main").inner_text()
    assert_accessible(page)

    # anyone can follow it with the number, from the home page
    page.context.clear_cookies()
    page.goto(server.url_for("/"))
    page.get_by_label("Numéro de suivi").fill(number)
    page.get_by_role("button", name="Suivre").click()
    page.wait_for_url(re.compile(r"/suivi\?numero="))
    result = page.locator("main").inner_text()
    assert "En attente" in result and "Durand" not in result
    assert_accessible(page)

    # the agent processes it
    agent = log_in(app, "agent@guichet.test", "AgentDemo2026!")
    use_session(page, server, agent)
    page.goto(server.url_for("/backoffice/"))
    assert_accessible(page)
    page.get_by_label("Rechercher").fill(number)
    page.get_by_role("button", name="Filtrer").click()
    page.get_by_role("link", name=number).click()
    page.wait_for_url(re.compile(rf"/backoffice/demandes/{demande_id}$"))
    assert "passeport.pdf" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("En traitement").check()
    page.get_by_role("button", name="Changer le statut").click()
    assert "Le statut a été changé." in page.locator("main").inner_text()
    page.get_by_label("Message à l’usager").fill("Votre acte part au courrier aujourd’hui.")
    page.get_by_role("button", name="Envoyer le message").click()
    assert "Le message a été envoyé" in page.locator("main").inner_text()
    page.get_by_label("Clos").check()
    page.get_by_label("Commentaire (visible par l’usager)").fill("Acte envoyé")
    page.get_by_role("button", name="Changer le statut").click()
    assert "Le traitement de cette demande est terminé." in page.locator("main").inner_text()
    assert_accessible(page)

    # the citizen sees it closed, with the message
    use_session(page, server, citizen)
    page.goto(server.url_for(f"/demandes/{demande_id}"))
    text = page.locator("main").inner_text()
    assert "Clos" in text and "Votre acte part au courrier aujourd’hui." in text
    assert_accessible(page)


def test_request_for_information_and_the_editor_pages_are_accessible(page, app, stack, live_server, assert_accessible):
    server = live_server(app)
    citizen = sign_up(app, stack, "browser-info")
    c = app.test_client()
    h = {"Authorization": "Bearer " + citizen["access_token"]}
    did = c.post("/api/v1/demandes", json={"demarche": "acte-de-naissance"}, headers=h).get_json()["id"]
    c.put(f"/api/v1/demandes/{did}/steps/demandeur", headers=h, json={"data": {"adresse": {
        "street": "1 rue Haute", "postcode": "78000", "city": "Versailles"}}})
    c.put(f"/api/v1/demandes/{did}/steps/acte", headers=h, json={"data": {
        "pour_qui": "moi", "date_naissance": "1990-01-01", "type_acte": "copie_integrale", "nombre": 1}})
    import io

    r = c.post(f"/api/v1/demandes/{did}/attachments", headers=h, content_type="multipart/form-data",
               data={"requirement": "piece_identite", "file": (io.BytesIO(pdf()), "cni.pdf")})
    assert r.status_code == 201
    assert c.post(f"/api/v1/demandes/{did}/submit", headers=h).status_code == 200
    agent = log_in(app, "agent@guichet.test", "AgentDemo2026!")
    ah = {"Authorization": "Bearer " + agent["access_token"]}
    c.post(f"/api/v1/backoffice/demandes/{did}/transition", headers=ah, json={"to": "en_traitement"})
    c.post(f"/api/v1/backoffice/demandes/{did}/request-info", headers=ah, json={"comment": "Quelle commune ?"})

    use_session(page, server, citizen)
    page.goto(server.url_for(f"/demandes/{did}"))
    assert "Informations demandées" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Joindre le document").click()  # nothing chosen: an error, accessible
    assert "Il y a un problème" in page.locator(".govuk-error-summary").inner_text()
    assert_accessible(page)
    page.get_by_label("Votre message").fill("Née à Versailles.")
    page.get_by_role("button", name="Envoyer le message").click()
    assert "En traitement" in page.locator("main").inner_text()

    admin = log_in(app, "admin@guichet.test", "AdminDemo2026!")
    use_session(page, server, admin)
    page.goto(server.url_for("/backoffice/demarches"))
    assert_accessible(page)
    page.get_by_role("link", name="Demande d'acte de naissance").click()
    assert "Version courante" in page.locator("main").inner_text()
    assert_accessible(page)
    page.goto(server.url_for(f"/backoffice/demandes/{did}"))
    assert_accessible(page)
