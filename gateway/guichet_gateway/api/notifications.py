"""The caller's notifications (notify service): the lasting in-portal inbox."""
from __future__ import annotations

from flask import g, jsonify

from ..auth import require_auth
from . import bp, page_args, rpc


@bp.get("/notifications")
@require_auth
def list_notifications():  # type: ignore[no-untyped-def]
    page, size = page_args()
    return jsonify(rpc("notify", "list_notifications", g.token, page, size))


@bp.get("/notifications/unread-count")
@require_auth
def unread_count():  # type: ignore[no-untyped-def]
    return jsonify(unread=rpc("notify", "unread_count", g.token))


@bp.post("/notifications/read-all")
@require_auth
def read_all():  # type: ignore[no-untyped-def]
    rpc("notify", "mark_all_read", g.token)
    return "", 204


@bp.post("/notifications/<notification_id>/read")
@require_auth
def mark_read(notification_id: str):  # type: ignore[no-untyped-def]
    rpc("notify", "mark_read", g.token, notification_id)
    return "", 204


@bp.delete("/notifications/<notification_id>")
@require_auth
def delete_notification(notification_id: str):  # type: ignore[no-untyped-def]
    rpc("notify", "delete_notification", g.token, notification_id)
    return "", 204
