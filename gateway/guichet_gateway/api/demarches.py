"""Catalogue, demandes and tracking routes (demarches service).

Each route is one RPC to the demarches service, which checks the token and calls the
wallet or identity itself only when the operation needs them.
"""
from __future__ import annotations

import base64

from flask import Response, g, jsonify, request
from guichet_common.errors import BadRequest

from ..auth import require_auth
from . import bp, json_body, page_args, rpc


@bp.get("/demarches")
def list_demarches():  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "list_demarches"))


@bp.get("/demarches/<slug>")
def get_demarche(slug: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "get_demarche", slug))


@bp.get("/track/<number>")
def track(number: str):  # type: ignore[no-untyped-def]
    resp = jsonify(rpc("demarches", "track", number))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/demandes")
@require_auth
def create_demande():  # type: ignore[no-untyped-def]
    d = json_body()
    result = rpc("demarches", "create_demande", g.token, d.get("demarche"), d.get("association_id"),
                 request.headers.get("Idempotency-Key"))
    return jsonify(result), 201


@bp.get("/demandes")
@require_auth
def list_demandes():  # type: ignore[no-untyped-def]
    page, size = page_args()
    return jsonify(rpc("demarches", "list_demandes", g.token, page, size))


@bp.get("/demandes/<id>")
@require_auth
def get_demande(id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "get_demande", g.token, id))


@bp.put("/demandes/<id>/steps/<step_id>")
@require_auth
def save_step(id: str, step_id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "save_step", g.token, id, step_id, d.get("data")))


@bp.patch("/demandes/<id>")
@require_auth
def patch_demande(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "patch_demande", g.token, id, d.get("data")))


@bp.delete("/demandes/<id>")
@require_auth
def delete_demande(id: str):  # type: ignore[no-untyped-def]
    rpc("demarches", "delete_demande", g.token, id)
    return "", 204


@bp.post("/demandes/<id>/cancel")
@require_auth
def cancel_demande(id: str):  # type: ignore[no-untyped-def]
    d = request.get_json(silent=True) or {}
    comment = d.get("comment", "") if isinstance(d, dict) else ""
    return jsonify(rpc("demarches", "cancel_demande", g.token, id, comment))


@bp.post("/demandes/<id>/submit")
@require_auth
def submit_demande(id: str):  # type: ignore[no-untyped-def]
    d = request.get_json(silent=True) or {}
    update_profile = bool(d.get("update_profile")) if isinstance(d, dict) else False
    return jsonify(rpc("demarches", "submit_demande", g.token, id,
                       request.headers.get("Idempotency-Key"), update_profile))


def attachment_args() -> dict[str, object]:
    """The attachment in a request: multipart `file` or JSON {wallet_document_id}, + requirement."""
    upload = request.files.get("file")
    if upload is not None:
        content = upload.read()
        return {"requirement": request.form.get("requirement"), "filename": upload.filename or "piece",
                "content_b64": base64.b64encode(content).decode()}
    d = request.get_json(silent=True)
    if not isinstance(d, dict):
        raise BadRequest("Envoyez un fichier (multipart, champ file) ou {wallet_document_id, requirement}.")
    if not d.get("wallet_document_id") and not d.get("justificatif_id"):
        raise BadRequest("Précisez wallet_document_id (un document du porte-documents) ou envoyez un fichier.")
    return {"requirement": d.get("requirement"), "wallet_document_id": d.get("wallet_document_id"),
            "justificatif_id": d.get("justificatif_id")}


@bp.post("/demandes/<id>/attachments")
@require_auth
def add_attachment(id: str):  # type: ignore[no-untyped-def]
    a = attachment_args()
    result = rpc("demarches", "add_attachment", g.token, id, a.get("requirement"), a.get("filename"),
                 a.get("content_b64"), a.get("wallet_document_id"), a.get("justificatif_id"))
    return jsonify(result), 201


@bp.delete("/demandes/<id>/attachments/<attachment_id>")
@require_auth
def remove_attachment(id: str, attachment_id: str):  # type: ignore[no-untyped-def]
    rpc("demarches", "remove_attachment", g.token, id, attachment_id)
    return "", 204


@bp.get("/demandes/<id>/attachments/<attachment_id>")
@require_auth
def read_attachment(id: str, attachment_id: str):  # type: ignore[no-untyped-def]
    return file_response(rpc("demarches", "read_own_attachment", g.token, id, attachment_id))


def file_response(f: dict[str, object]) -> Response:
    resp = Response(base64.b64decode(str(f["content_b64"])), mimetype=str(f.get("content_type")
                                                                          or "application/octet-stream"))
    resp.headers.set("Content-Disposition", "attachment", filename=str(f.get("filename") or "piece"))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/demandes/<id>/messages")
@require_auth
def list_messages(id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("demarches", "list_messages", g.token, id))


@bp.post("/demandes/<id>/messages")
@require_auth
def post_message(id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("demarches", "post_message", g.token, id, d.get("body"))), 201
