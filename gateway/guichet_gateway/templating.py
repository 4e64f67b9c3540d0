"""Jinja set-up of the gateway's French pages (GOV.UK Frontend 6.3.0 components).

Entry points:

- ``init_templating(app)``: template loaders (the gateway's ``templates/`` first, then the
  ``govuk_frontend_jinja/…`` and ``govuk_frontend_wtf/…`` package templates), govuk-frontend-wtf
  helpers with French texts, and a context processor giving every template ``brand``,
  ``asset_url()``, ``govuk_fr`` (French texts for GOV.UK components), ``error_list()`` /
  ``error_for()`` (problem+json ``errors`` -> component params) and ``nav_current()``.
- ``register_static_pages(app)``: ``/mentions-legales``, ``/accessibilite``,
  ``/donnees-personnelles`` and the French 400/403/404/500 pages for every path outside
  ``/api/`` (API paths are left to the API's own problem+json handlers).

The brand comes from ``app.config["BRAND"]`` (keys in ``get_brand``), then the environment
(``GUICHET_CITY_NAME``…), then ``static/dist/brand.json`` written by the asset build, then
``app.config["CITY_NAME"]`` / defaults.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, render_template, request, url_for
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.exceptions import InternalServerError

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
DIST_DIR = PACKAGE_DIR / "static" / "dist"

DEFAULT_CITY_NAME = "Ville de Bellerive"

# French texts for GOV.UK Frontend components (their defaults are English).
GOVUK_FR: dict[str, Any] = {
    "skip_link": "Aller au contenu principal",
    "back_link": "Retour",
    "error_summary_title": "Il y a un problème",
    "error_prefix": "Erreur",
    "optional": "(facultatif)",
    "menu": "Menu",
    "menu_label": "Afficher ou masquer le menu",
    "navigation_label": "Menu principal",
    "service_information": "Informations sur le service",
    "notification_title": "Information",
    "success_title": "Succès",
    "warning": "Attention",
    "details_more": "En savoir plus",
    "password": {
        "showPasswordText": "Afficher",
        "hidePasswordText": "Masquer",
        "showPasswordAriaLabelText": "Afficher le mot de passe",
        "hidePasswordAriaLabelText": "Masquer le mot de passe",
        "passwordShownAnnouncementText": "Votre mot de passe est visible",
        "passwordHiddenAnnouncementText": "Votre mot de passe est masqué",
    },
    "file_upload": {
        "chooseFilesButtonText": "Choisir un fichier",
        "dropInstructionText": "ou déposez le fichier ici",
        "noFileChosenText": "Aucun fichier choisi",
        "enteredDropZoneText": "Entrée dans la zone de dépôt",
        "leftDropZoneText": "Sortie de la zone de dépôt",
        "multipleFilesChosenText": {
            "one": "%{count} fichier choisi",
            "other": "%{count} fichiers choisis",
        },
    },
    "character_count": {
        "charactersUnderLimitText": {
            "one": "Il vous reste %{count} caractère",
            "other": "Il vous reste %{count} caractères",
        },
        "charactersAtLimitText": "Vous avez atteint la limite de caractères",
        "charactersOverLimitText": {
            "one": "Vous avez %{count} caractère de trop",
            "other": "Vous avez %{count} caractères de trop",
        },
        "textareaDescriptionText": "Vous pouvez saisir jusqu’à %{count} caractères",
    },
    "accordion": {
        "showAllSectionsText": "Tout afficher",
        "hideAllSectionsText": "Tout masquer",
        "showSectionText": "Afficher",
        "hideSectionText": "Masquer",
        "showSectionAriaLabelText": "Afficher cette section",
        "hideSectionAriaLabelText": "Masquer cette section",
    },
    "pagination": {"previous": "Précédent", "next": "Suivant", "label": "Pagination"},
    "date": {"day": "Jour", "month": "Mois", "year": "Année"},
}

# Navigation of base.html: (label, href). Active when the request path starts with href.
NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("Démarches", "/"),
    ("Mes demandes", "/demandes"),
    ("Porte-documents", "/porte-documents"),
    ("Notifications", "/notifications"),
    ("Mon compte", "/mon-compte"),
)

_brand_json_cache: dict[str, Any] = {"mtime": None, "data": {}}


def _dist_brand() -> dict[str, Any]:
    """brand.json written by the asset build (cached on its mtime); {} when not built."""
    path = DIST_DIR / "brand.json"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    if _brand_json_cache["mtime"] != mtime:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        _brand_json_cache.update(mtime=mtime, data=data)
    return dict(_brand_json_cache["data"])


def _assets_version() -> str:
    try:
        return (DIST_DIR / ".stamp").read_text(encoding="utf-8").strip()[:12]
    except OSError:
        return ""


def asset_url(filename: str) -> str:
    """URL of a compiled asset under static/dist/, cache-busted with the build stamp."""
    url = url_for("static", filename=f"dist/{filename}")
    version = _assets_version()
    return f"{url}?v={version}" if version else url


def get_brand(app: Flask | None = None) -> dict[str, Any]:
    """The city's brand: ``city_name``, ``logo_url``, ``logo_alt``, ``primary``, ``secondary``,
    ``font_family``, ``home_url``, ``tagline`` and the optional legal details ``address``,
    ``contact_email``, ``contact_phone``, ``dpo_email``, ``publication_director``, ``host``,
    ``accessibility_date``, ``phase`` (e.g. "Bêta"), ``feedback_url``, ``retention``
    (missing ones are None; the legal pages then say "à compléter")."""
    app = app or current_app
    configured: Mapping[str, Any] = app.config.get("BRAND", {}) or {}
    built = _dist_brand()
    env = os.environ

    def pick(key: str, env_key: str | None = None, default: Any = None) -> Any:
        if configured.get(key):
            return configured[key]
        if env_key and env.get(env_key):
            return env[env_key]
        if built.get(key):
            return built[key]
        return default

    brand: dict[str, Any] = {
        "city_name": pick("city_name", "GUICHET_CITY_NAME", app.config.get("CITY_NAME") or DEFAULT_CITY_NAME),
        "primary": pick("primary", "GUICHET_BRAND_PRIMARY", "#1d4f91"),
        "secondary": pick("secondary", "GUICHET_BRAND_SECONDARY", "#f2b705"),
        "font_family": pick("font_family", None, "Atkinson Hyperlegible"),
        "home_url": configured.get("home_url") or "/",
        "tagline": configured.get("tagline") or "Démarches en ligne",
    }
    for key in (
        "address",
        "contact_email",
        "contact_phone",
        "dpo_email",
        "publication_director",
        "host",
        "accessibility_date",
        "phase",
        "feedback_url",
        "retention",
    ):
        brand[key] = configured.get(key)
    logo_url = configured.get("logo_url")
    if not logo_url:
        logo_url = asset_url(built.get("logo") or "logo.svg")
    brand["logo_url"] = logo_url
    brand["logo_alt"] = configured.get("logo_alt", "")  # decorative: the city name sits next to it
    return brand


def error_list(errors: Mapping[str, Iterable[str] | str] | None, ids: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """``{field: [messages]}`` (problem+json ``errors``) -> govukErrorSummary ``errorList``.
    The link targets ``#<id>`` where id is ``ids[field]`` or the field name itself."""
    result: list[dict[str, str]] = []
    for field, messages in (errors or {}).items():
        if isinstance(messages, str):
            messages = [messages]
        messages = [m for m in messages if m]
        if messages:
            target = (ids or {}).get(field, field)
            result.append({"text": messages[0], "href": f"#{target}"})
    return result


def error_for(errors: Mapping[str, Iterable[str] | str] | None, field: str) -> dict[str, str] | None:
    """The ``errorMessage`` param of a GOV.UK field for ``field`` (French hidden prefix), or None."""
    messages = (errors or {}).get(field)
    if not messages:
        return None
    if isinstance(messages, str):
        messages = [messages]
    messages = [m for m in messages if m]
    if not messages:
        return None
    return {"text": messages[0], "visuallyHiddenText": GOVUK_FR["error_prefix"]}


def nav_current(href: str) -> bool:
    """True when the current request is under ``href`` ("/" only matches the home page
    and the démarches catalogue)."""
    try:
        path = request.path
    except RuntimeError:
        return False
    if href == "/":
        return path == "/" or path.startswith("/demarches")
    return path == href or path.startswith(href.rstrip("/") + "/")


def _wtforms_errors_fr(form: Any, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    from govuk_frontend_wtf.main import wtforms_errors

    merged = {"titleText": GOVUK_FR["error_summary_title"]}
    merged.update(params or {})
    return wtforms_errors(form, merged)


def init_templating(app: Flask) -> None:
    """Loaders, govuk-frontend-wtf helpers (French), context processor. Autoescape stays on."""
    loaders: list[Any] = [FileSystemLoader(str(TEMPLATES_DIR))]
    original = app.jinja_loader
    if original is not None and not (
        isinstance(original, FileSystemLoader) and Path(original.searchpath[0]).resolve() == TEMPLATES_DIR
    ):
        loaders.append(original)
    loaders.append(
        PrefixLoader(
            {
                "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
            }
        )
    )
    app.jinja_loader = ChoiceLoader(loaders)  # type: ignore[assignment]

    try:
        from govuk_frontend_wtf.main import WTFormsHelpers
    except ImportError:  # pragma: no cover - the venv ships it
        pass
    else:
        WTFormsHelpers(app)
        app.add_template_global(_wtforms_errors_fr, "wtforms_errors")

    app.add_template_global(asset_url, "asset_url")
    app.add_template_global(error_list, "error_list")
    app.add_template_global(error_for, "error_for")
    app.add_template_global(nav_current, "nav_current")
    app.jinja_env.globals.update(govuk_fr=GOVUK_FR, nav_items=NAV_ITEMS)

    @app.context_processor
    def _guichet_brand() -> dict[str, Any]:
        return {"brand": get_brand(app), "current_year": datetime.date.today().year}


def is_api_path(path: str | None = None) -> bool:
    path = request.path if path is None else path
    return path == "/api" or path.startswith("/api/")


STATIC_PAGES: dict[str, tuple[str, str]] = {
    # url: (endpoint, template)
    "/mentions-legales": ("mentions_legales", "mentions-legales.html"),
    "/accessibilite": ("accessibilite", "accessibilite.html"),
    "/donnees-personnelles": ("donnees_personnelles", "donnees-personnelles.html"),
}

ERROR_PAGES: dict[int, str] = {
    400: "errors/400.html",
    403: "errors/403.html",
    404: "errors/404.html",
    500: "errors/500.html",
}


def _delegate_api_error(app: Flask, error: Exception) -> Any:
    """For /api/ paths: hand the error to a class-based handler registered by the API
    (on its blueprint or the app, e.g. for HTTPException), else Werkzeug's default answer."""
    original = getattr(error, "original_exception", None) if isinstance(error, InternalServerError) else None
    for exc in (original, error):
        if exc is None:
            continue
        for scope in (*request.blueprints, None):
            handlers = app.error_handler_spec.get(scope, {}).get(None, {})
            for cls in type(exc).__mro__:
                handler = handlers.get(cls)
                if handler is not None and not getattr(handler, "_guichet_page_handler", False):
                    return handler(exc)
    return error


def _make_error_handler(app: Flask, code: int) -> Callable[[Exception], Any]:
    template = ERROR_PAGES[code]

    def handler(error: Exception) -> Any:
        if is_api_path():
            return _delegate_api_error(app, error)
        return render_template(template), code

    handler._guichet_page_handler = True  # type: ignore[attr-defined]
    handler.__name__ = f"guichet_error_{code}"
    return handler


def register_static_pages(app: Flask) -> None:
    """French legal pages and error pages (not for /api/ paths)."""
    for url, (endpoint, template) in STATIC_PAGES.items():

        def view(_template: str = template) -> str:
            return render_template(_template)

        app.add_url_rule(url, endpoint=endpoint, view_func=view, methods=["GET"])
    for code in ERROR_PAGES:
        app.register_error_handler(code, _make_error_handler(app, code))
