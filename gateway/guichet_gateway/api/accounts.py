"""Accounts, sessions and profile routes (identity service)."""
from __future__ import annotations

from flask import g, jsonify

from ..auth import require_auth
from . import bp, client_id, json_body, rpc


@bp.post("/accounts")
def register():  # type: ignore[no-untyped-def]
    d = json_body()
    rpc("identity", "register", d.get("email"), d.get("password"), d.get("first_name"), d.get("last_name"))
    return jsonify(status="pending"), 202


@bp.post("/accounts/activate")
def activate():  # type: ignore[no-untyped-def]
    d = json_body()
    rpc("identity", "activate", d.get("token"))
    return jsonify(status="active"), 200


@bp.post("/auth/login")
def login():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "login", d.get("email"), d.get("password"), client_id()))


@bp.post("/auth/refresh")
def refresh():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "refresh", d.get("refresh_token")))


@bp.post("/auth/logout")
def logout():  # type: ignore[no-untyped-def]
    d = json_body()
    rpc("identity", "logout", d.get("refresh_token"))
    return "", 204


@bp.get("/me")
@require_auth
def me():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "get_me", g.token))
