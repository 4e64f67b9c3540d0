"""Accounts, sessions and profile routes (identity service)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Response, g, jsonify

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


@bp.post("/accounts/email/confirm")
def confirm_email():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "confirm_email_change", d.get("token")))


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


@bp.post("/auth/password-reset")
def password_reset():  # type: ignore[no-untyped-def]
    d = json_body()
    rpc("identity", "request_password_reset", d.get("email"))
    return jsonify(status="accepted"), 202


@bp.post("/auth/password-reset/confirm")
def password_reset_confirm():  # type: ignore[no-untyped-def]
    d = json_body()
    rpc("identity", "confirm_password_reset", d.get("token"), d.get("password"))
    return "", 204


@bp.get("/me")
@require_auth
def me():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "get_me", g.token))


@bp.patch("/me")
@require_auth
def update_me():  # type: ignore[no-untyped-def]
    return jsonify(rpc("identity", "update_me", g.token, json_body()))


@bp.delete("/me")
@require_auth
def delete_me():  # type: ignore[no-untyped-def]
    rpc("identity", "delete_me", g.token)
    return "", 204


@bp.get("/me/export")
@require_auth
def export_me():  # type: ignore[no-untyped-def]
    data = rpc("identity", "export_me", g.token)
    data = {"exported_at": datetime.now(UTC).isoformat(), **data}
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="mes-donnees-{day}.json"',
                             "Cache-Control": "no-store"})


@bp.post("/me/password")
@require_auth
def change_password():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("identity", "change_password", g.token, d.get("current_password"), d.get("new_password")))


@bp.post("/me/email")
@require_auth
def change_email():  # type: ignore[no-untyped-def]
    d = json_body()
    view = rpc("identity", "request_email_change", g.token, d.get("email"))
    return jsonify(status="pending", pending_email=view.get("pending_email")), 202
