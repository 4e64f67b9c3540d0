"""Browser sessions for the pages: the access and refresh tokens in HttpOnly cookies,
refreshed transparently, CSRF-protected forms (Flask-WTF), redirect to /connexion.

The API never reads these cookies (bearer tokens only), so it needs no CSRF token.
"""
from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Response, current_app, g, redirect, request
from guichet_common.auth import Caller
from guichet_common.errors import Unauthorized

from ..auth import ACCESS_COOKIE, REFRESH_COOKIE, verifier

F = TypeVar("F", bound=Callable[..., Any])
REFRESH_MAX_AGE = 30 * 86400


def rpc(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    return current_app.extensions["rpc"].call(service, method, *args, **kwargs)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never an open redirect."""
    if not target:
        return default
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _secure() -> bool:
    return bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def set_session(resp: Response, pair: dict[str, Any]) -> Response:
    resp.set_cookie(ACCESS_COOKIE, pair["access_token"], max_age=int(pair.get("expires_in", 900)),
                    httponly=True, samesite="Lax", secure=_secure(), path="/")
    resp.set_cookie(REFRESH_COOKIE, pair["refresh_token"], max_age=REFRESH_MAX_AGE, httponly=True,
                    samesite="Lax", secure=_secure(), path="/")
    return resp


def clear_session(resp: Response) -> Response:
    resp.delete_cookie(ACCESS_COOKIE, path="/")
    resp.delete_cookie(REFRESH_COOKIE, path="/")
    return resp


_refresh_lock = threading.Lock()
_recent_refreshes: dict[str, tuple[float, dict[str, Any]]] = {}
REFRESH_REUSE_WINDOW_S = 30.0


def _refresh_once(refresh_token: str) -> dict[str, Any]:
    """Refresh a browser session once, even when several requests carry the same cookie.

    A refresh token works once and its reuse revokes the whole chain, so a page and its
    live stream refreshing the same cookie at the same moment would sign the person out.
    Requests of this process that arrive with the same old cookie within a short window
    get the pair the first one obtained.
    """
    key = hashlib.sha256(refresh_token.encode()).hexdigest()
    with _refresh_lock:
        now = time.monotonic()
        hit = _recent_refreshes.get(key)
        if hit and now - hit[0] < REFRESH_REUSE_WINDOW_S:
            return hit[1]
        pair: dict[str, Any] = rpc("identity", "refresh", refresh_token)
        for old in [k for k, (t, _) in _recent_refreshes.items() if now - t >= REFRESH_REUSE_WINDOW_S]:
            del _recent_refreshes[old]
        _recent_refreshes[key] = (now, pair)
        return pair


def page_caller() -> Caller | None:
    """The signed-in visitor (refreshing an expired access token once), or None."""
    if "page_caller" in g:
        return g.page_caller  # type: ignore[no-any-return]
    caller = None
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            caller = verifier().verify(token)
            g.token = token
        except Unauthorized:
            caller = None
    if caller is None and request.cookies.get(REFRESH_COOKIE):
        try:
            pair = _refresh_once(request.cookies[REFRESH_COOKIE])
            caller = verifier().verify(pair["access_token"])
            g.token = pair["access_token"]
            g.new_session = pair  # written to the response by the after_request hook
        except Exception:
            caller = None
            g.drop_session = True
    g.page_caller = caller
    return caller


def login_required(fn: F) -> F:
    """Pages that need a session send a signed-out visitor to /connexion and back."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if page_caller() is None:
            return redirect("/connexion?next=" + _quote(request.full_path.rstrip("?")))
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def staff_required(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = page_caller()
        if caller is None:
            return redirect("/connexion?next=" + _quote(request.full_path.rstrip("?")))
        if not caller.is_staff:
            from flask import abort

            abort(403)
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def init_sessions(app: Any) -> None:
    from flask_wtf.csrf import CSRFProtect

    csrf = CSRFProtect()
    csrf.init_app(app)
    from ..api import bp as api_bp

    csrf.exempt(api_bp)
    app.extensions["guichet_csrf"] = csrf

    @app.after_request
    def _session_cookies(resp: Response) -> Response:
        if g.get("new_session"):
            set_session(resp, g.new_session)
        elif g.get("drop_session"):
            clear_session(resp)
        return resp

    @app.context_processor
    def _user() -> dict[str, Any]:
        if request.path.startswith("/api/") or request.path.startswith("/static/"):
            return {}
        caller = page_caller()
        return {"current_user": caller}
