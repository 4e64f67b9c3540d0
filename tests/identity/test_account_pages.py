"""The account pages through the gateway (Flask client, real stack): forms, CSRF, cookies."""
from __future__ import annotations

import os
import re

PASSWORD = "Versailles2026!"


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def post_form(client, url: str, data: dict, get_url: str | None = None, **kw):
    page = client.get(get_url or url)
    return client.post(url, data={**data, "csrf_token": csrf(page.get_data(as_text=True))}, **kw)


def fresh_client(gateway_app):
    return gateway_app.test_client()


def sign_up_and_in(gateway_app, mail, tag: str):
    c = fresh_client(gateway_app)
    email = f"{tag}-{os.urandom(4).hex()}@example.test"
    r = post_form(c, "/inscription", {"email": email, "first_name": "Anne", "last_name": "Martin",
                                      "password": PASSWORD, "password_confirm": PASSWORD})
    assert r.status_code == 200 and "Vérifiez votre messagerie" in r.get_data(as_text=True)
    link = mail.link(email, "activation")
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = c.get("/" + path)
    assert "Activer mon compte" in page.get_data(as_text=True)
    token = path.split("token=", 1)[1]
    r = c.post("/activation", data={"token": token, "csrf_token": csrf(page.get_data(as_text=True))})
    assert "Votre compte est activé" in r.get_data(as_text=True)
    r = post_form(c, "/connexion", {"email": email, "password": PASSWORD})
    assert r.status_code == 302
    return c, email


def test_inscription_marks_required_fields_and_keeps_values_on_error(gateway_app):
    c = fresh_client(gateway_app)
    html = c.get("/inscription").get_data(as_text=True)
    for label in ("Adresse électronique *", "Prénom *", "Nom *", "Mot de passe *"):
        assert label in html
    r = post_form(c, "/inscription", {"email": "anne@example.test", "first_name": "Anne", "last_name": "",
                                      "password": "court", "password_confirm": "court"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Il y a un problème" in html and "Erreur :" in html
    assert 'value="anne@example.test"' in html and 'value="Anne"' in html
    assert "au moins 8 caractères" in html and "Saisissez votre nom" in html
    assert 'href="#password"' in html and 'href="#last_name"' in html


def test_post_without_csrf_is_refused(gateway_app):
    c = fresh_client(gateway_app)
    r = c.post("/connexion", data={"email": "x@example.test", "password": "x"})
    assert r.status_code == 400


def test_invalid_activation_link_offers_to_register_again(gateway_app):
    c = fresh_client(gateway_app)
    page = c.get("/activation?token=faux")
    r = c.post("/activation", data={"token": "faux", "csrf_token": csrf(page.get_data(as_text=True))})
    html = r.get_data(as_text=True)
    assert "n’est pas valable" in html and 'href="/inscription"' in html


def test_sign_in_sets_httponly_cookies_honours_next_and_signs_out(gateway_app, mail):
    c, email = sign_up_and_in(gateway_app, mail, "page")
    assert c.get("/mon-compte").status_code == 200
    # next= is followed for same-site paths only
    other = fresh_client(gateway_app)
    r = other.get("/mon-compte")
    assert r.status_code == 302 and r.headers["Location"].startswith("/connexion?next=")
    r = post_form(other, "/connexion?next=/mes-relations", {"email": email, "password": PASSWORD, "next": "/mes-relations"})
    assert r.status_code == 302 and r.headers["Location"] == "/mes-relations"
    cookies = r.headers.getlist("Set-Cookie")
    assert any(h.startswith("guichet_access=") and "HttpOnly" in h for h in cookies)
    assert any(h.startswith("guichet_refresh=") and "HttpOnly" in h for h in cookies)
    third = fresh_client(gateway_app)
    r = post_form(third, "/connexion", {"email": email, "password": PASSWORD, "next": "https://evil.example/"})
    assert r.headers["Location"] == "/mon-compte"  # never an open redirect
    assert third.get("/connexion?suivant=/connexion").headers["Location"] == "/mon-compte"  # no loop
    r = post_form(c, "/deconnexion", {}, get_url="/mon-compte")
    assert r.status_code == 302
    assert c.get("/mon-compte").status_code == 302


def test_agents_land_on_the_back_office_unless_a_page_was_asked_for(gateway_app):
    c = fresh_client(gateway_app)
    r = post_form(c, "/connexion", {"email": "agent@guichet.test", "password": "AgentDemo2026!"})
    assert r.status_code == 302 and r.headers["Location"] == "/backoffice"
    assert c.get("/connexion").headers["Location"] == "/backoffice"  # already signed in
    other = fresh_client(gateway_app)
    r = post_form(other, "/connexion?next=/porte-documents", {"email": "agent@guichet.test",
                                                               "password": "AgentDemo2026!", "next": "/porte-documents"})
    assert r.headers["Location"] == "/porte-documents"


def test_wrong_password_message_and_brake(gateway_app, mail):
    c = fresh_client(gateway_app)
    r = post_form(c, "/connexion", {"email": "nobody@example.test", "password": "Mauvais2026"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Adresse électronique ou mot de passe incorrect." in html
    assert 'value="nobody@example.test"' in html


def test_profile_household_address_and_preferences_pages(gateway_app, mail):
    c, email = sign_up_and_in(gateway_app, mail, "profil")
    r = post_form(c, "/mon-compte/profil", {"first_name": "Anne", "last_name": "Martin", "phone": "12"})
    html = r.get_data(as_text=True)
    assert "Saisissez un numéro de téléphone valide" in html and 'value="12"' in html
    r = post_form(c, "/mon-compte/profil", {"first_name": "Anne", "last_name": "Martin", "phone": "01 39 07 00 00"})
    assert r.status_code == 302
    r = post_form(c, "/mon-compte/adresses/ajouter", {"street": "4 avenue de Paris", "postal_code": "780",
                                                      "city": "Versailles", "country": "France"})
    assert "5 chiffres" in r.get_data(as_text=True)
    r = post_form(c, "/mon-compte/adresses/ajouter", {"street": "4 avenue de Paris", "postal_code": "78000",
                                                      "city": "Versailles", "country": "France"})
    assert r.status_code == 302
    r = post_form(c, "/mon-compte/foyer/ajouter", {"first_name": "Léo", "last_name": "Martin",
                                                   "birth_date": "2016-05-02", "relation": "enfant"})
    assert r.status_code == 302
    r = post_form(c, "/mon-compte/preferences", {"prefs": ["email_compte"]})
    assert r.status_code == 302
    html = c.get("/mon-compte").get_data(as_text=True)
    for text in ("01 39 07 00 00", "4 avenue de Paris", "Léo Martin", "2 mai 2016", "désactivés"):
        assert text in html, text
    r = c.get("/mon-compte/export")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    # Removal buttons post with CSRF too.
    r = post_form(c, "/mon-compte/foyer/0/supprimer", {}, get_url="/mon-compte")
    assert r.status_code == 302
    assert "Léo Martin" not in c.get("/mon-compte").get_data(as_text=True)


def test_delete_account_page_needs_confirmation(gateway_app, mail):
    c, email = sign_up_and_in(gateway_app, mail, "suppr")
    r = post_form(c, "/mon-compte/suppression", {})
    assert "Cochez la case" in r.get_data(as_text=True)
    r = post_form(c, "/mon-compte/suppression", {"confirm": "oui"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert c.get("/mon-compte").status_code == 302


def test_admin_association_pages_and_citizen_forbidden(gateway_app, mail):
    c, email = sign_up_and_in(gateway_app, mail, "relation")
    assert c.get("/backoffice/associations").status_code == 403
    admin = fresh_client(gateway_app)
    post_form(admin, "/connexion", {"email": "admin@guichet.test", "password": "AdminDemo2026!"})
    rna = "W" + str(int.from_bytes(os.urandom(4), "big") % 10**9).zfill(9)
    r = post_form(admin, "/backoffice/associations", {"name": "", "rna": "x"})
    assert "Saisissez le nom" in r.get_data(as_text=True)
    r = post_form(admin, "/backoffice/associations", {"name": "Chorale de Massy", "rna": rna})
    assert r.status_code == 302
    url = r.headers["Location"]
    r = post_form(admin, url, {"email": email, "role": "representative", "until": ""})
    assert r.status_code == 302
    assert email in admin.get(url).get_data(as_text=True)
    html = c.get("/mes-relations").get_data(as_text=True)
    assert "Chorale de Massy" in html and "Représentant" in html
    assoc_id = url.rsplit("/", 1)[1]
    r = post_form(c, f"/mes-relations/{assoc_id}/quitter", {}, get_url="/mes-relations")
    assert r.status_code == 302
    assert "Chorale de Massy" not in c.get("/mes-relations").get_data(as_text=True)


def test_forgotten_password_pages_round_trip(gateway_app, mail):
    c, email = sign_up_and_in(gateway_app, mail, "oubli")
    anon = fresh_client(gateway_app)
    r = post_form(anon, "/mot-de-passe-oublie", {"email": email})
    assert "Si un compte utilise l’adresse" in r.get_data(as_text=True)
    msgs = mail.to(email, subject="Réinitialisation")
    link = re.search(r"https?://\S+/mot-de-passe/nouveau\?token=\S+", mail.body(msgs[-1])).group(0)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    r = post_form(anon, "/mot-de-passe/nouveau", {"token": path.split("token=")[1], "password": "Nouveau2026ok",
                                                  "password_confirm": "Autre2026ok"}, get_url=path)
    assert "ne sont pas identiques" in r.get_data(as_text=True)
    r = post_form(anon, "/mot-de-passe/nouveau", {"token": path.split("token=")[1], "password": "Nouveau2026ok",
                                                  "password_confirm": "Nouveau2026ok"}, get_url=path)
    assert r.status_code == 302 and r.headers["Location"] == "/connexion"
    r = post_form(anon, "/mot-de-passe/nouveau", {"token": path.split("token=")[1], "password": "Encore2026ok",
                                                  "password_confirm": "Encore2026ok"}, get_url=path)
    assert "Ce lien n’est pas valable" in r.get_data(as_text=True)
    r = post_form(fresh_client(gateway_app), "/connexion", {"email": email, "password": "Nouveau2026ok"})
    assert r.status_code == 302
