"""The inbox page (/notifications), the unread badge of every page, the live stream."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request
from nameko.exceptions import RemoteError

from .formatting import date_fr
from .session import login_required, page_caller, rpc, safe_next

log = logging.getLogger(__name__)
bp = Blueprint("notifications", __name__)
PAGE_SIZE = 20




def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.get("/notifications")
@login_required
def inbox() -> Any:
    page = _page_arg()
    data = rpc("notify", "list_notifications", g.token, page, PAGE_SIZE)
    pages = max(1, -(-data["total"] // PAGE_SIZE))
    return render_template("notifications/index.html", page_title="Notifications", data=data, page=page,
                           pages=pages, date_fr=date_fr)


def _not_found_is_404(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except RemoteError as exc:
        if exc.exc_type == "NotificationNotFound":
            abort(404)
        raise


@bp.get("/notifications/<notification_id>/ouvrir")
@login_required
def open_one(notification_id: str) -> Any:
    """Follow a notification's link, marking it read on the way."""
    note: dict[str, Any] = {}

    def read_and_mark() -> None:
        note.update(rpc("notify", "get_notification", g.token, notification_id))
        rpc("notify", "mark_read", g.token, notification_id)

    _not_found_is_404(read_and_mark)
    target = note.get("link") or (f"/demandes/{note['demande_id']}" if note.get("demande_id") else "")
    return redirect(safe_next(target, "/notifications"))


@bp.post("/notifications/<notification_id>/lue")
@login_required
def mark_read(notification_id: str) -> Any:
    _not_found_is_404(rpc, "notify", "mark_read", g.token, notification_id)
    flash("La notification est marquée comme lue.", "success")
    return redirect(safe_next(request.form.get("suivant"), "/notifications"))


@bp.post("/notifications/tout-lire")
@login_required
def mark_all_read() -> Any:
    rpc("notify", "mark_all_read", g.token)
    flash("Toutes vos notifications sont marquées comme lues.", "success")
    return redirect("/notifications")


@bp.post("/notifications/<notification_id>/supprimer")
@login_required
def delete(notification_id: str) -> Any:
    _not_found_is_404(rpc, "notify", "delete_notification", g.token, notification_id)
    flash("La notification est supprimée.", "success")
    return redirect(safe_next(request.form.get("suivant"), "/notifications"))


def _unread_badge() -> dict[str, Any]:
    """`unread_count` for base.html's badge: one cheap RPC, only for signed-in page views."""
    path = request.path
    if path.startswith(("/static/", "/api/", "/notifications/stream", "/.well-known/")) or path == "/healthz":
        return {}
    if "unread_count" in g:
        return {"unread_count": g.unread_count}
    try:
        if page_caller() is None:
            return {}
        g.unread_count = int(rpc("notify", "unread_count", g.token))
    except Exception:  # a page never fails because the badge could not be counted
        log.warning("unread count unavailable", exc_info=True)
        return {}
    return {"unread_count": g.unread_count}


def register(app: Flask) -> None:
    from ..live import init_live

    app.register_blueprint(bp)
    app.context_processor(_unread_badge)
    init_live(app)
