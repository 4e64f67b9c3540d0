"""The base layout in a real browser: French, branded, keyboard- and axe-clean."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from flask import Flask, abort, render_template_string, request
from guichet_gateway.templating import PACKAGE_DIR, init_templating, register_static_pages

CITY = "Ville de Bellerive"

PAGE = """
{% extends "base.html" %}
{% from "macros/forms.html" import errorSummary, textField, passwordField, textareaField,
     fileField, radiosField, submitButton, backLink, csrfField %}
{% block beforeContent %}{{ backLink("/") }}{% endblock %}
{% block content %}
<div class="govuk-grid-row">
  <div class="govuk-grid-column-two-thirds">
    {{ errorSummary(errors) }}
    <h1 class="govuk-heading-xl">Demande d’acte de naissance</h1>
    <p class="govuk-body">Recevez une copie intégrale ou un extrait d’acte de naissance.</p>
    <form method="post" action="/essai" novalidate>
      {{ csrfField() }}
      {{ textField("email", "Adresse électronique", value=values.email, errors=errors,
                   type="email", autocomplete="email", spellcheck=false,
                   hint="Nous vous écrirons à cette adresse.") }}
      {{ textField("telephone", "Téléphone", value=values.telephone, errors=errors,
                   type="tel", autocomplete="tel", optional=true) }}
      {{ passwordField("mot_de_passe", "Mot de passe", errors=errors) }}
      {{ radiosField("acte", "Type d’acte", [("integral", "Copie intégrale"), ("extrait", "Extrait")],
                     value=values.acte, errors=errors) }}
      {{ textareaField("precisions", "Précisions", value=values.precisions, errors=errors,
                       optional=true, maxlength=500) }}
      {{ fileField("piece", "Pièce d’identité", errors=errors, hint="PDF, JPG ou PNG, 2 Mo au plus.") }}
      {{ submitButton("Envoyer la demande") }}
    </form>
  </div>
</div>
{% endblock %}
"""


def make_app() -> Flask:
    app = Flask(
        "guichet_gateway",
        static_folder=str(PACKAGE_DIR / "static"),
        template_folder=str(PACKAGE_DIR / "templates"),
    )
    app.config.update(SECRET_KEY="test", BRAND={"city_name": CITY})
    init_templating(app)
    register_static_pages(app)

    @app.route("/essai", methods=["GET", "POST"])
    def essai() -> str:
        values = request.form if request.method == "POST" else {}
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            if "@" not in values.get("email", ""):
                errors["email"] = ["Saisissez une adresse électronique valide, comme nom@exemple.fr"]
            if not values.get("acte"):
                errors["acte"] = ["Choisissez le type d’acte"]
        return render_template_string(
            PAGE,
            values=values,
            errors=errors,
            has_errors=bool(errors),
            page_title="Demande d’acte de naissance",
            unread_count=2,
        )

    @app.route("/connecte")
    def connecte() -> str:
        return render_template_string(
            '{% extends "base.html" %}{% block content %}'
            '<h1 class="govuk-heading-xl">Bonjour Camille</h1>{% endblock %}',
            current_user={"display_name": "Camille", "roles": ["agent"]},
            phase="Bêta",
            unread_count=0,
        )

    @app.route("/interdit")
    def interdit() -> None:
        abort(403)

    @app.route("/panne")
    def panne() -> None:
        raise RuntimeError("boom")

    return app


@pytest.fixture
def site(live_server: Any) -> Any:
    return live_server(make_app())


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


def test_layout_french_branded_and_accessible(
    page: Any, site: Any, assert_accessible: Any, frontend_assets: dict[str, Any], tmp_path: Any
) -> None:
    response = page.goto(site.url_for("/essai"))
    assert response is not None and response.ok
    page.evaluate("document.fonts.ready")

    assert page.get_attribute("html", "lang") == "fr"
    assert page.title() == f"Demande d’acte de naissance – {CITY}"

    # Skip link: first thing the keyboard reaches, French, to the main content.
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.textContent.trim(), document.activeElement.getAttribute('href')]")
    assert focused == ["Aller au contenu principal", "#main-content"]
    assert page.locator("main#main-content[role=main]").count() == 1

    # Header: the city's logo and name, linking home; brand colour, not GOV.UK's.
    home = page.locator("header.guichet-header a.guichet-header__homepage-link")
    assert home.get_attribute("href") == "/"
    assert home.locator(".guichet-header__city-name").inner_text() == CITY
    logo = home.locator("img.guichet-header__logo")
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")
    header_bg = page.eval_on_selector("header.guichet-header", "el => getComputedStyle(el).backgroundColor")
    assert header_bg == _rgb(frontend_assets["primary"])
    assert page.locator(".govuk-header, .govuk-footer__crown, .govuk-footer__copyright-logo").count() == 0

    # The compiled CSS loaded with the brand font, and the font file itself was fetched.
    font = frontend_assets["font_family"]
    body_font = page.eval_on_selector("body", "el => getComputedStyle(el.querySelector('.govuk-body')).fontFamily")
    assert body_font.startswith(f'"{font}"'), body_font
    assert page.evaluate(f"document.fonts.check('19px \"{font}\"')")
    assert "GDS Transport" not in body_font

    # GOV.UK Frontend JS initialised as an ES module.
    page.wait_for_function("document.body.classList.contains('govuk-frontend-supported')")

    # Navigation, with the unread badge and the sign-in link (no current_user).
    nav = page.locator("nav.govuk-service-navigation__wrapper")
    for text, href in [
        ("Démarches", "/"),
        ("Mes demandes", "/demandes"),
        ("Porte-documents", "/porte-documents"),
        ("Mon compte", "/mon-compte"),
    ]:
        assert nav.get_by_role("link", name=text, exact=True).get_attribute("href") == href
    notif = nav.locator("a[href='/notifications']")
    assert notif.inner_text().replace("\n", " ").startswith("Notifications2")
    assert "non lues" in notif.text_content()
    assert nav.get_by_role("link", name="Connexion").get_attribute("href").startswith("/connexion?suivant=")

    # Footer links.
    footer = page.locator("footer[role=contentinfo]")
    for text, href in [
        ("Mentions légales", "/mentions-legales"),
        ("Accessibilité : partiellement conforme", "/accessibilite"),
        ("Données personnelles", "/donnees-personnelles"),
    ]:
        assert footer.get_by_role("link", name=text).get_attribute("href") == href
    assert CITY in footer.inner_text()

    # Every form control has a visible label; optional ones say "(facultatif)".
    # (the enhanced file upload hides its <input> behind a labelled button that keeps the id)
    controls = page.locator("main input:not([type=hidden]):visible, main textarea, main select, main button#piece")
    assert controls.count() >= 6
    for i in range(controls.count()):
        control = controls.nth(i)
        cid = control.get_attribute("id")
        label = page.locator(f"label[for='{cid}']")
        assert label.count() == 1 and label.is_visible(), f"no visible label for #{cid}"
    assert page.locator("label[for=telephone]").inner_text().endswith("(facultatif)")
    assert page.get_by_role("link", name="Retour").get_attribute("href") == "/"
    # French texts of JS-enhanced components.
    assert page.get_by_role("button", name="Afficher le mot de passe").is_visible()
    assert "500 caractères" in page.locator("#precisions-info").inner_text()
    assert page.locator(".govuk-file-upload-button").inner_text().find("Choisir un fichier") >= 0

    assert_accessible(page)
    page.screenshot(path=str(tmp_path / "essai.png"), full_page=True)
    assert page.guichet_problems == []

    # Submit with errors: French error summary, focused, linking to the fields; typed values kept.
    page.fill("#email", "pas-une-adresse")
    page.fill("#telephone", "01 23 45 67 89")
    with page.expect_navigation():
        page.get_by_role("button", name="Envoyer la demande").click()
    summary = page.locator(".govuk-error-summary")
    assert summary.locator(".govuk-error-summary__title").inner_text() == "Il y a un problème"
    page.wait_for_function("document.activeElement.classList.contains('govuk-error-summary')")
    assert page.title().startswith("Erreur : ")
    assert page.input_value("#email") == "pas-une-adresse"
    assert page.input_value("#telephone") == "01 23 45 67 89"
    assert "Erreur" in page.locator("#email-error").inner_text()
    summary.get_by_role("link", name="Saisissez une adresse électronique valide, comme nom@exemple.fr").click()
    assert page.evaluate("document.activeElement.id") == "email"
    summary.get_by_role("link", name="Choisissez le type d’acte").click()
    assert page.evaluate("document.activeElement.id") == "acte"
    assert_accessible(page)

    shot_dir = os.environ.get("GUICHET_SCREENSHOT_DIR")
    page.screenshot(path=str(tmp_path / "essai-erreurs.png"), full_page=True)
    if shot_dir:
        os.makedirs(shot_dir, exist_ok=True)
        for name in ("essai.png", "essai-erreurs.png"):
            shutil.copy(tmp_path / name, os.path.join(shot_dir, name))


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/mentions-legales", "Mentions légales"),
        ("/accessibilite", "Déclaration d’accessibilité"),
        ("/donnees-personnelles", "Données personnelles"),
    ],
)
def test_static_pages(page: Any, site: Any, assert_accessible: Any, path: str, heading: str) -> None:
    response = page.goto(site.url_for(path))
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == heading
    assert page.title() == f"{heading} – {CITY}"
    assert_accessible(page)
    assert page.guichet_problems == []


def test_accessibility_statement_is_honest(page: Any, site: Any) -> None:
    page.goto(site.url_for("/accessibilite"))
    text = page.locator("main").inner_text()
    assert "partiellement conforme" in text
    assert "Aucun audit de conformité complet n’a encore été réalisé" in text
    assert "Défenseur des droits" in text


def test_privacy_page_says_wallet_is_private(page: Any, site: Any) -> None:
    page.goto(site.url_for("/donnees-personnelles"))
    text = page.locator("main").inner_text()
    assert "ne sont pas\nlisibles par l’administration" in text or "ne sont pas lisibles par l’administration" in text
    assert "CNIL" in text


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/nulle-part", 404, "Page introuvable"),
        ("/interdit", 403, "Vous n’avez pas accès à cette page"),
        ("/panne", 500, "Désolé, le service rencontre un problème technique"),
    ],
)
def test_error_pages(page: Any, site: Any, assert_accessible: Any, path: str, status: int, heading: str) -> None:
    response = page.goto(site.url_for(path))
    assert response is not None and response.status == status
    assert page.locator("h1").inner_text() == heading
    assert page.get_attribute("html", "lang") == "fr"
    assert_accessible(page)


def test_api_paths_are_left_alone(page: Any, site: Any) -> None:
    response = page.goto(site.url_for("/api/v1/nulle-part"))
    assert response is not None and response.status == 404
    assert "Page introuvable" not in page.content()


def test_signed_in_navigation(page: Any, site: Any, assert_accessible: Any) -> None:
    page.goto(site.url_for("/connecte"))
    nav = page.locator("nav.govuk-service-navigation__wrapper")
    assert nav.get_by_role("link", name="Connexion").count() == 0
    logout = nav.get_by_role("button", name="Déconnexion")
    assert logout.is_visible()
    assert logout.evaluate("b => [b.form.method, new URL(b.form.action).pathname]") == ["post", "/deconnexion"]
    assert nav.get_by_role("link", name="Back-office").get_attribute("href") == "/backoffice/"
    assert nav.locator(".guichet-badge").count() == 0  # no badge when nothing is unread
    banner = page.locator(".govuk-phase-banner")
    assert banner.locator(".govuk-tag").inner_text() == "Bêta"
    assert "Ce service est nouveau" in banner.inner_text()
    assert_accessible(page)


def test_mobile_menu(browser: Any, site: Any, assert_accessible: Any) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(site.url_for("/essai"))
        toggle = page.get_by_role("button", name="Afficher ou masquer le menu")
        toggle.wait_for(state="visible")
        assert toggle.inner_text().strip() == "Menu"
        assert not page.get_by_role("link", name="Mes demandes").is_visible()
        toggle.click()
        assert page.get_by_role("link", name="Mes demandes").is_visible()
        assert_accessible(page)
    finally:
        context.close()
