"""The account journey in a real browser on a real stack: sign-up → mailed activation link →
sign-in → profile edit → sign-out, axe-core clean on every page, errors shown by the field."""
from __future__ import annotations

import os
import re
from typing import Any

PASSWORD = "Versailles2026!"


def local(server: Any, link: str) -> str:
    """The mailed link (built on the stack's public URL) on the live test server."""
    return server.url + "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_sign_up_activate_sign_in_edit_profile_sign_out(page, app, stack, live_server, assert_accessible):
    server = live_server(app)
    email = f"browser-{os.urandom(3).hex()}@example.test"

    # Inscription: a mistake is shown next to its field, what was typed is kept.
    page.goto(server.url_for("/inscription"))
    assert page.locator("label[for=email]").inner_text().strip().endswith("*")
    assert_accessible(page)
    page.fill("#email", email)
    page.fill("#first_name", "Anne")
    page.fill("#last_name", "Martin")
    page.fill("#password", "motdepasse")
    page.fill("#password_confirm", "motdepasse")
    page.click("button:has-text('Créer mon compte')")
    assert page.locator(".govuk-error-summary").is_visible()
    assert "majuscule" in page.locator("#password-error").inner_text()
    assert page.input_value("#email") == email
    assert page.title().startswith("Erreur : ")
    assert_accessible(page)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("button:has-text('Créer mon compte')")
    page.wait_for_selector("text=Vérifiez votre messagerie")
    assert_accessible(page)

    # The activation link from the real mail.
    link = stack.mail.link(email, "activation")
    assert link
    page.goto(local(server, link))
    assert_accessible(page)
    page.click("button:has-text('Activer mon compte')")
    page.wait_for_selector("text=Votre compte est activé")
    assert_accessible(page)

    # Connexion, sent back to the page asked for.
    page.goto(server.url_for("/mon-compte/profil"))
    page.wait_for_url(re.compile(r".*/connexion\?next=.*"))
    assert_accessible(page)
    page.fill("#email", email)
    page.fill("#password", "Mauvais2026")
    page.click("button:has-text('Me connecter')")
    assert "incorrect" in page.locator(".govuk-error-summary").inner_text()
    assert page.input_value("#email") == email
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Me connecter')")
    page.wait_for_url(re.compile(r".*/mon-compte/profil$"))
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["guichet_access"]["httpOnly"] and cookies["guichet_refresh"]["httpOnly"]
    assert_accessible(page)

    # Profile edit: a bad phone number is refused by the field, then a good one is saved.
    page.fill("#phone", "12")
    page.click("button:has-text('Mettre à jour')")
    assert "numéro de téléphone valide" in page.locator("#phone-error").inner_text()
    assert page.input_value("#phone") == "12"
    assert_accessible(page)
    page.fill("#first_name", "Anne-Marie")
    page.fill("#phone", "01 39 07 00 00")
    page.click("button:has-text('Mettre à jour')")
    page.wait_for_url(re.compile(r".*/mon-compte(#profil)?$"))
    body = page.locator("main").inner_text()
    assert "Anne-Marie" in body and "01 39 07 00 00" in body
    assert_accessible(page)

    # A household member, then the other account pages are clean too.
    page.goto(server.url_for("/mon-compte/foyer/ajouter"))
    page.fill("#first_name", "Léo")
    page.fill("#last_name", "Martin")
    page.fill("#birth_date", "2016-05-02")
    page.select_option("#relation", "enfant")
    page.click("button:has-text('Ajouter la personne')")
    page.wait_for_url(re.compile(r".*/mon-compte(#foyer)?$"))
    assert "Léo Martin" in page.locator("main").inner_text()
    assert_accessible(page)  # with the household table and its buttons
    for path in ("/mon-compte/adresses/ajouter", "/mon-compte/contacts/ajouter", "/mon-compte/preferences",
                 "/mon-compte/mot-de-passe", "/mon-compte/adresse-electronique", "/mon-compte/suppression",
                 "/mes-relations", "/mot-de-passe-oublie"):
        page.goto(server.url_for(path))
        assert_accessible(page)

    # Déconnexion.
    page.goto(server.url_for("/mon-compte"))
    page.click("button:has-text('Déconnexion')")
    page.wait_for_url(server.url + "/")
    page.goto(server.url_for("/mon-compte"))
    page.wait_for_url(re.compile(r".*/connexion\?next=.*"))


def test_admin_association_pages(page, app, stack, live_server, assert_accessible):
    server = live_server(app)
    page.goto(server.url_for("/connexion?next=/backoffice/associations"))
    page.fill("#email", "admin@guichet.test")
    page.fill("#password", "AdminDemo2026!")
    page.click("button:has-text('Me connecter')")
    page.wait_for_url(re.compile(r".*/backoffice/associations$"))
    assert_accessible(page)
    page.click("button:has-text('Enregistrer l’association')")
    assert "Saisissez le nom" in page.locator("#name-error").inner_text()
    assert_accessible(page)
    page.fill("#name", "Les Amis du Parc")
    page.fill("#rna", "W" + str(int.from_bytes(os.urandom(4), "big") % 10**9).zfill(9))
    page.click("button:has-text('Enregistrer l’association')")
    page.wait_for_selector("h1:has-text('Les Amis du Parc')")
    page.fill("#email", "agent@guichet.test")
    page.check("#role")
    page.click("button:has-text('Accorder le droit')")
    page.wait_for_selector("td:has-text('agent@guichet.test')")
    assert_accessible(page)
    page.goto(server.url_for("/backoffice/agents"))
    assert_accessible(page)
