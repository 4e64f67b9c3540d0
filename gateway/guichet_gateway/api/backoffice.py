"""The agents' back-office routes (demarches service; agent or admin role).

The gateway refuses citizens early (403) and the demarches service checks the roles
again from the token: it owns the data.
"""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from ..auth import require_staff
from . import bp, json_body, page_args, rpc
from .demarches import file_response

FILTERS = ("status", "demarche", "q", "assigned", "association", "from", "to", "sort")


def filters() -> dict[str, Any]:
    return {k: request.args.get(k) for k in FILTERS if request.args.get(k)}


@bp.get("/backoffice/demandes")
@require_staff
def bo_list():  # type: ignore[no-untyped-def]
    page, size = page_args()
    with_counts = request.args.get("counts", "").lower() in ("1", "true", "oui")
    return jsonify(rpc("demarches", "bo_list", g.token, filters(), page, size, with_counts))


@bp.get("/backoffice/demandes/export.csv")
@require_staff
def bo_export():  # type: ignore[no-untyped-def]
    text = rpc("demarches", "bo_export_csv", g.token, filters())
    resp = Response("\ufeff" + text, mimetype="text/csv")  # the BOM makes spreadsheets read UTF-8
    resp.headers.set("Content-Disposition", "attachment", filename="demandes.csv")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/backoffice/demandes/<id>")
@require_staff
def bo_get(id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "bo_get", g.token, id))


@bp.post("/backoffice/demandes/<id>/assign")
@require_staff
def bo_assign(id: str):  # type: ignore[no-untyped-def]
    d = request.get_json(silent=True) or {}
    d = d if isinstance(d, dict) else {}
    return jsonify(rpc("demarches", "bo_assign", g.token, id, d.get("agent_id")))


@bp.get("/backoffice/agents")
@require_staff
def bo_agents():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "list_staff", g.token))


@bp.post("/backoffice/demandes/<id>/transition")
@require_staff
def bo_transition(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "bo_transition", g.token, id, d.get("to"), d.get("comment", "")))


@bp.post("/backoffice/demandes/<id>/request-info")
@require_staff
def bo_request_info(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "bo_request_info", g.token, id, d.get("comment")))


@bp.post("/backoffice/demandes/<id>/messages")
@require_staff
def bo_message(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "bo_post_message", g.token, id, d.get("body"))), 201


@bp.post("/backoffice/demandes/<id>/notes")
@require_staff
def bo_note(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "bo_add_note", g.token, id, d.get("body"))), 201


@bp.get("/backoffice/demandes/<id>/attachments/<attachment_id>")
@require_staff
def bo_attachment(id: str, attachment_id: str):  # type: ignore[no-untyped-def]
    return file_response(rpc("demarches", "bo_read_attachment", g.token, id, attachment_id))


@bp.get("/backoffice/demarches")
@require_staff
def bo_demarches():  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "admin_list_demarches", g.token))


@bp.post("/backoffice/demarches")
@require_staff
def bo_create_demarche():  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "admin_create_demarche", g.token, json_body())), 201


@bp.get("/backoffice/demarches/<slug>")
@require_staff
def bo_get_demarche(slug: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "admin_get_demarche", g.token, slug))


@bp.put("/backoffice/demarches/<slug>")
@require_staff
def bo_update_demarche(slug: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "admin_update_demarche", g.token, slug, json_body()))
