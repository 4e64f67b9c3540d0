"""The agents' back-office pages: the queue (filters, search, counts, pages) and a
demande's file (answers, pieces, history, messages, internal notes, transitions)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import yaml
from flask import Blueprint, Flask, Response, flash, g, redirect, request
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from .demarches import call, file_download, problem, render
from .session import rpc, staff_required

bp = Blueprint("backoffice_pages", __name__)
FILTERS = ("status", "demarche", "q", "assigned", "association", "from", "to", "sort")
STATUS_CHOICES = (("en_attente", "En attente"), ("en_traitement", "En traitement"),
                  ("info_demandee", "Informations demandées"), ("clos", "Clos"), ("refuse", "Refusé"),
                  ("annule", "Annulée"))
PAGE_SIZE = 50


def current_filters() -> dict[str, str]:
    return {k: request.args[k].strip() for k in FILTERS if request.args.get(k, "").strip()}


@bp.get("/backoffice/")
@bp.get("/backoffice")
@staff_required
def queue() -> Any:
    filters = current_filters()
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    errors: dict[str, list[str]] = {}
    try:
        data = rpc("demarches", "bo_list", g.token, filters, page, PAGE_SIZE, True)
    except RemoteError as exc:
        payload = problem(exc)
        errors = {"from": [payload.get("detail", "Filtre invalide.")]}
        data = {"items": [], "page": 1, "page_size": PAGE_SIZE, "total": 0, "counts": {}}
    demarches = call("list_demarches")
    pages = max(1, -(-data["total"] // PAGE_SIZE))

    def link(**changes: Any) -> str:
        args = {**filters, **{k: v for k, v in changes.items() if v not in (None, "")}}
        for k, v in changes.items():
            if v in (None, ""):
                args.pop(k, None)
        return "/backoffice/?" + urlencode(args)

    return render("backoffice/queue.html", 400 if errors else 200, page_title="Back-office : demandes", data=data,
                  filters=filters, demarches=demarches, status_choices=STATUS_CHOICES, pages=pages, link=link,
                  errors=errors, has_errors=bool(errors), export_url="/backoffice/export.csv?" + urlencode(filters))


@bp.get("/backoffice/export.csv")
@staff_required
def export() -> Any:
    text = call("bo_export_csv", g.token, current_filters())
    resp = Response("\ufeff" + text, mimetype="text/csv")
    resp.headers.set("Content-Disposition", "attachment", filename="demandes.csv")
    return resp


def _detail(demande_id: str, errors: dict[str, list[str]] | None = None, status: int = 200,
            values: dict[str, str] | None = None) -> Any:
    d = call("bo_get", g.token, demande_id)
    try:
        staff = rpc("identity", "list_staff", g.token)
    except (RemoteError, RpcTimeout, UnknownService):  # served without the colleagues' list
        staff = []
    return render("backoffice/detail.html", status, page_title=f"Demande {d['tracking_number']}", d=d,
                  staff=staff, errors=errors or {}, has_errors=bool(errors), values=values or {})


@bp.get("/backoffice/demandes/<demande_id>")
@staff_required
def detail(demande_id: str) -> Any:
    return _detail(demande_id)


def _act(demande_id: str, method: str, args: tuple[Any, ...], ok: str | Callable[[Any], str], field: str,
         anchor: str) -> Any:
    try:
        result = rpc("demarches", method, g.token, demande_id, *args)
    except RemoteError as exc:
        payload = problem(exc)
        errors = payload.get("errors") or {field: [payload.get("detail", "")]}
        if field not in errors:
            errors = {field: [m for v in errors.values() for m in v]}
        status = 409 if payload.get("kind") == "conflict" else 422
        return _detail(demande_id, errors, status, {k: str(v) for k, v in request.form.items() if k != "csrf_token"})
    flash(ok(result) if callable(ok) else ok, "success")
    return redirect(f"/backoffice/demandes/{demande_id}#{anchor}")


@bp.post("/backoffice/demandes/<demande_id>/statut")
@staff_required
def transition(demande_id: str) -> Any:
    to = request.form.get("to", "")
    if not to:
        return _detail(demande_id, {"to": ["Choisissez le nouveau statut."]}, 422, dict(request.form))
    return _act(demande_id, "bo_transition", (to, request.form.get("comment", "")), "Le statut a été changé.", "to",
                "statut")


@bp.post("/backoffice/demandes/<demande_id>/informations")
@staff_required
def request_info(demande_id: str) -> Any:
    return _act(demande_id, "bo_request_info", (request.form.get("info", ""),),
                "La demande d’informations a été envoyée à l’usager.", "info", "statut")


@bp.post("/backoffice/demandes/<demande_id>/messages")
@staff_required
def message(demande_id: str) -> Any:
    return _act(demande_id, "bo_post_message", (request.form.get("body", ""),), "Le message a été envoyé à l’usager.",
                "body", "messages")


@bp.post("/backoffice/demandes/<demande_id>/notes")
@staff_required
def note(demande_id: str) -> Any:
    return _act(demande_id, "bo_add_note", (request.form.get("note", ""),), "La note interne a été ajoutée.", "note",
                "notes")


@bp.post("/backoffice/demandes/<demande_id>/attribuer")
@staff_required
def assign(demande_id: str) -> Any:
    agent_id = request.form.get("agent_id") or None

    def done(result: dict[str, Any]) -> str:
        if not result.get("assigned_to"):
            return "La demande n’est plus attribuée."
        if agent_id in (None, "me"):
            return "La demande vous est attribuée."
        return f"La demande est attribuée à {result.get('assigned_name')}."

    return _act(demande_id, "bo_assign", (agent_id,), done, "agent_id", "attribution")


@bp.get("/backoffice/demandes/<demande_id>/pieces/<attachment_id>")
@staff_required
def piece(demande_id: str, attachment_id: str) -> Any:
    return file_download(call("bo_read_attachment", g.token, demande_id, attachment_id))


# --- the démarches editor (admins) ----------------------------------------------------------


@bp.get("/backoffice/demarches")
@staff_required
def demarches_list() -> Any:
    return render("backoffice/demarches.html", page_title="Back-office : démarches",
                  demarches=call("admin_list_demarches", g.token))


def _editor(slug: str | None, text: str, version: int | None, errors: dict[str, list[str]] | None = None,
            status: int = 200) -> Any:
    return render("backoffice/demarche_edit.html", status, page_title="Modifier une démarche" if slug else
                  "Nouvelle démarche", slug=slug, text=text, version=version, errors=errors or {},
                  has_errors=bool(errors))


@bp.route("/backoffice/demarches/nouvelle", methods=["GET", "POST"])
@staff_required
def demarche_new() -> Any:
    if request.method == "GET":
        call("admin_list_demarches", g.token)  # 403 for an agent who is not an admin
        return _editor(None, EXAMPLE, None)
    return _save(None)


@bp.route("/backoffice/demarches/<slug>", methods=["GET", "POST"])
@staff_required
def demarche_edit(slug: str) -> Any:
    if request.method == "GET":
        current = call("admin_get_demarche", g.token, slug)
        text = yaml.safe_dump(current["definition"], allow_unicode=True, sort_keys=False, width=110)
        return _editor(slug, text, current["version"])
    return _save(slug)


def _save(slug: str | None) -> Any:
    text = request.form.get("definition", "")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return _editor(slug, text, None, {"definition": [f"Le texte n’est pas du YAML valide : {exc}"[:300]]}, 422)
    try:
        if slug:
            saved = rpc("demarches", "admin_update_demarche", g.token, slug, raw)
        else:
            saved = rpc("demarches", "admin_create_demarche", g.token, raw)
    except RemoteError as exc:
        payload = problem(exc)
        msgs = [f"{k} : {m}" for k, v in (payload.get("errors") or {}).items() for m in v] or [payload.get("detail", "")]
        return _editor(slug, text, None, {"definition": msgs}, 409 if payload.get("kind") == "conflict" else 422)
    flash(f"La démarche « {saved['title']} » est enregistrée (version {saved['version']}). "
          "Les demandes déjà commencées gardent leur version.", "success")
    return redirect("/backoffice/demarches")


EXAMPLE = """slug: ma-demarche
title: Titre de la démarche
description: Ce que la démarche permet de faire.
audience: individual   # ou association
online: true
steps:
  - id: coordonnees
    title: Vos coordonnées
    fields:
      - {name: nom, label: Nom, type: text, required: true, prefill: last_name}
      - {name: courriel, label: Adresse électronique, type: email, required: true, prefill: email}
attachments:
  - {name: justificatif, label: Justificatif de domicile, kind: domicile, required: true}
workflow:
  statuses: []
  transitions: {}
"""


def register(app: Flask) -> None:
    app.register_blueprint(bp)
