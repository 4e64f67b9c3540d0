"""The démarches pages through the gateway (Flask client with the session cookies): the
whole citizen journey without JavaScript, then the agent's back-office."""
from __future__ import annotations

import io
import re

from guichet_gateway.auth import ACCESS_COOKIE, REFRESH_COOKIE

from .helpers import pdf


def browser_of(gateway_app, person):
    """A separate Flask client signed in with this person's tokens as cookies."""
    c = gateway_app.test_client()
    c.set_cookie(ACCESS_COOKIE, person.tokens["access_token"], domain="localhost")
    c.set_cookie(REFRESH_COOKIE, person.tokens["refresh_token"], domain="localhost")
    return c


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def test_home_lists_the_catalogue_and_the_tracking_box(client):
    r = client.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Demande d&#39;acte de naissance (@)" in html or "Demande d'acte de naissance (@)" in html
    assert "Carte nationale d&#39;identité et passeport (@)" not in html and "passeport</a>" in html
    assert 'action="/suivi"' in html
    r = client.get("/demarches/carte-identite")
    assert r.status_code == 200 and "ne se fait pas en ligne" in r.get_data(as_text=True)
    assert client.get("/demarches/nope").status_code == 404
    r = client.get("/suivi?numero=GU-0000-0000-0000")
    assert r.status_code == 404 and "Aucune demande" in r.get_data(as_text=True)


def test_signed_out_visitor_goes_to_connexion(client):
    r = client.get("/demandes")
    assert r.status_code == 302 and r.headers["Location"].startswith("/connexion?next=/demandes")
    assert client.get("/backoffice/").status_code == 302


def test_citizen_journey_through_the_pages(gateway_app, make_citizen, agent):
    person = make_citizen("pages", first_name="Paul", last_name="Pages")
    b = browser_of(gateway_app, person)
    page = b.get("/demarches/acte-de-naissance").get_data(as_text=True)
    assert "Commencer" in page
    r = b.post("/demarches/acte-de-naissance/commencer", data={"csrf_token": csrf(page), "cle": "k-pages"})
    assert r.status_code == 302
    step1 = r.headers["Location"]
    did = step1.split("/")[2]
    page = b.get(step1).get_data(as_text=True)
    assert 'value="Paul"' in page and "Étapes de la demande" in page  # pre-filled, with a stepper
    r = b.post(step1, data={"csrf_token": csrf(page), "prenom": "Paul", "nom": "Pages", "courriel": "faux",
                            "adresse.street": "1 rue Haute", "adresse.postcode": "78000", "adresse.city": "Versailles"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Il y a un problème" in html and 'value="1 rue Haute"' in html
    r = b.post(step1, data={"csrf_token": csrf(page), "prenom": "Paul", "nom": "Pages", "courriel": person.email,
                            "adresse.street": "1 rue Haute", "adresse.postcode": "78000", "adresse.city": "Versailles"})
    assert r.status_code == 302 and r.headers["Location"] == f"/demandes/{did}/etapes/acte"
    page = b.get(r.headers["Location"]).get_data(as_text=True)
    assert "Vos réponses ont été enregistrées." in page
    r = b.post(f"/demandes/{did}/etapes/acte", data={"csrf_token": csrf(page), "pour_qui": "moi",
                                                     "date_naissance": "1985-06-01", "type_acte": "extrait_filiation",
                                                     "nombre": "2"})
    assert r.headers["Location"] == f"/demandes/{did}/pieces"
    page = b.get(f"/demandes/{did}/pieces").get_data(as_text=True)
    r = b.post(f"/demandes/{did}/pieces", data={"csrf_token": csrf(page), "requirement": "piece_identite",
                                                "fichier-piece_identite": (io.BytesIO(pdf()), "cni.pdf")},
               content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    page = b.get(f"/demandes/{did}/recapitulatif").get_data(as_text=True)
    assert "cni.pdf" in page and "Envoyer la demande" in page and "mettre_a_jour_profil" in page
    key = re.search(r'name="cle" value="([^"]+)"', page).group(1)
    r = b.post(f"/demandes/{did}/envoyer", data={"csrf_token": csrf(page), "cle": key})
    assert r.status_code == 302
    page = b.get(f"/demandes/{did}").get_data(as_text=True)
    number = re.search(r"GU-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", page).group(0)
    assert "En attente" in page and "Annuler la demande" in page
    assert number in b.get("/demandes").get_data(as_text=True)
    tracked = gateway_app.test_client().get(f"/suivi?numero={number}").get_data(as_text=True)
    assert "En attente" in tracked and "Pages" not in tracked
    # the agent's side
    a = browser_of(gateway_app, agent)
    queue = a.get(f"/backoffice/?q={number}").get_data(as_text=True)
    assert f"/backoffice/demandes/{did}" in queue and "En attente : " in queue
    page = a.get(f"/backoffice/demandes/{did}").get_data(as_text=True)
    assert "cni.pdf" in page and "Changer le statut" in page
    assert not re.search(r"<textarea[^>]*>\s*None\s*</textarea>", page)  # empty boxes are empty
    token = csrf(page)
    # assign it to a colleague chosen in the list of the city's agents, then take it back
    assert '<label class="govuk-label" for="agent_id">' in page and "admin@guichet.test" in page
    admin_id = re.search(r'<option value="([0-9a-f]{32})"[^>]*>[^<]*admin@guichet\.test', page).group(1)
    r = a.post(f"/backoffice/demandes/{did}/attribuer", data={"csrf_token": token, "agent_id": admin_id})
    assert r.status_code == 302 and r.headers["Location"].endswith("#attribution")
    page = a.get(f"/backoffice/demandes/{did}").get_data(as_text=True)
    assert "La demande est attribuée à" in page and "M’attribuer la demande" in page
    r = a.post(f"/backoffice/demandes/{did}/attribuer", data={"csrf_token": token, "agent_id": "0" * 32})
    assert r.status_code == 422 and "Choisissez un agent de la ville." in r.get_data(as_text=True)
    assert a.post(f"/backoffice/demandes/{did}/attribuer", data={"csrf_token": token}).status_code == 302
    page = a.get(f"/backoffice/demandes/{did}").get_data(as_text=True)
    assert "La demande vous est attribuée." in page and "M’attribuer la demande" not in page
    piece = re.search(rf"/backoffice/demandes/{did}/pieces/[0-9a-f]+", page).group(0)
    assert a.get(piece).data == pdf()
    r = a.post(f"/backoffice/demandes/{did}/statut", data={"csrf_token": token, "to": "brouillon"})
    assert r.status_code == 409 and "Il y a un problème" in r.get_data(as_text=True)
    assert a.post(f"/backoffice/demandes/{did}/statut", data={"csrf_token": token, "to": "en_traitement"}).status_code == 302
    assert a.post(f"/backoffice/demandes/{did}/notes", data={"csrf_token": token, "note": "Note-privee-77"}).status_code == 302
    assert a.post(f"/backoffice/demandes/{did}/messages",
                  data={"csrf_token": token, "body": "Votre acte est prêt."}).status_code == 302
    r = a.post(f"/backoffice/demandes/{did}/statut", data={"csrf_token": token, "to": "clos", "comment": "Envoyé"})
    assert r.status_code == 302
    page = b.get(f"/demandes/{did}").get_data(as_text=True)
    assert "Clos" in page and "Votre acte est prêt." in page and "Note-privee-77" not in page
    assert "Annuler la demande" not in page
    # posting without the CSRF token is refused
    assert b.post(f"/demandes/{did}/messages", data={"body": "x"}).status_code == 400


def test_admin_edits_a_demarche_in_the_back_office(gateway_app, admin, agent):
    import uuid

    slug = "page-" + uuid.uuid4().hex[:8]
    a = browser_of(gateway_app, agent)
    assert a.get("/backoffice/demarches/nouvelle").status_code == 403  # agents are not admins
    b = browser_of(gateway_app, admin)
    page = b.get("/backoffice/demarches/nouvelle").get_data(as_text=True)
    assert "Définition (YAML)" in page
    r = b.post("/backoffice/demarches/nouvelle", data={"csrf_token": csrf(page), "definition": "slug: [oops"})
    assert r.status_code == 422 and "YAML" in r.get_data(as_text=True)
    text = (f"slug: {slug}\ntitle: Essai de page\naudience: individual\nonline: true\nsteps:\n  - id: a\n    title: A\n"
            "    fields:\n      - {name: objet, label: Objet, type: couleur}\n")
    r = b.post("/backoffice/demarches/nouvelle", data={"csrf_token": csrf(page), "definition": text})
    assert r.status_code == 422 and "Type inconnu" in r.get_data(as_text=True)
    r = b.post("/backoffice/demarches/nouvelle", data={"csrf_token": csrf(page), "definition": text.replace("couleur", "text")})
    assert r.status_code == 302
    page = b.get(f"/backoffice/demarches/{slug}").get_data(as_text=True)
    assert "Version courante : 1" in page and "Essai de page" in page
    r = b.post(f"/backoffice/demarches/{slug}", data={"csrf_token": csrf(page),
                                                      "definition": text.replace("couleur", "long_text")})
    assert r.status_code == 302
    assert "Version courante : 2" in b.get(f"/backoffice/demarches/{slug}").get_data(as_text=True)
    assert admin.get(f"/api/v1/backoffice/demarches/{slug}").get_json()["definition"]["steps"][0]["fields"][0]["type"] \
        == "long_text"
    assert slug in b.get("/backoffice/demarches").get_data(as_text=True)


def test_association_demarche_page_offers_only_represented_associations(gateway_app, make_citizen, admin):
    import uuid

    rep, viewer = make_citizen("page-rep"), make_citizen("page-viewer")
    r = admin.post("/api/v1/backoffice/associations", json={"name": "Club de lecture " + uuid.uuid4().hex[:6],
                                                            "rna": "W" + str(uuid.uuid4().int)[:9]})
    aid = r.get_json()["id"]
    admin.post(f"/api/v1/backoffice/associations/{aid}/members", json={"email": rep.email, "role": "representative"})
    admin.post(f"/api/v1/backoffice/associations/{aid}/members", json={"email": viewer.email, "role": "viewer"})
    v = browser_of(gateway_app, viewer)
    page = v.get("/demarches/subvention-association").get_data(as_text=True)
    assert "n’a pas de droit de représentant" in page and "Commencer" not in page
    b = browser_of(gateway_app, rep)
    page = b.get("/demarches/subvention-association").get_data(as_text=True)
    assert f'<option value="{aid}">' in page
    r = b.post("/demarches/subvention-association/commencer", data={"csrf_token": csrf(page), "association_id": aid})
    assert r.status_code == 302 and r.headers["Location"].endswith("/etapes/representant")
    # a forged association id is refused by the service
    forged = v.get("/demarches/subvention-association").get_data(as_text=True)  # the logout form has a token
    r = v.post("/demarches/subvention-association/commencer", data={"csrf_token": csrf(forged), "association_id": aid})
    assert r.status_code == 403
