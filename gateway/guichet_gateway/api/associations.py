"""Associations and rights (identity service): the caller's own, and the admins' routes.

Admin checks happen in identity (the owner of the data); the gateway only requires a token.
"""
from __future__ import annotations

from flask import g, jsonify

from ..auth import require_auth
from . import bp, json_body, rpc


@bp.get("/me/associations")
@require_auth
def my_associations():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "list_my_associations", g.token))


@bp.delete("/me/associations/<association_id>")
@require_auth
def leave_association(association_id: str):  # type: ignore[no-untyped-def]
    rpc("identity", "leave_association", g.token, association_id)
    return "", 204


@bp.get("/backoffice/associations")
@require_auth
def list_associations():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "list_associations", g.token))


@bp.post("/backoffice/associations")
@require_auth
def create_association():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "create_association", g.token, d.get("name"), d.get("rna"))), 201


@bp.get("/backoffice/associations/<association_id>")
@require_auth
def get_association(association_id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "get_association", g.token, association_id))


@bp.get("/backoffice/associations/<association_id>/members")
@require_auth
def list_members(association_id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "list_members", g.token, association_id))


@bp.post("/backoffice/associations/<association_id>/members")
@require_auth
def grant_member(association_id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "grant_member", g.token, association_id, d.get("email"), d.get("role"),
                       d.get("until"))), 201


@bp.delete("/backoffice/associations/<association_id>/members/<account_id>")
@require_auth
def revoke_member(association_id: str, account_id: str):  # type: ignore[no-untyped-def]
    rpc("identity", "revoke_member", g.token, association_id, account_id)
    return "", 204


@bp.post("/backoffice/agents")
@require_auth
def grant_agent():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "set_agent", g.token, d.get("email"), True))


@bp.post("/backoffice/agents/revoke")
@require_auth
def revoke_agent():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "set_agent", g.token, d.get("email"), False))


@bp.post("/backoffice/signing-keys/rotate")
@require_auth
def rotate_key():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "rotate_signing_key", g.token))
