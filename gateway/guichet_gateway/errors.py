"""Every error the API answers, as RFC 9457 problem+json, from one table."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from guichet_common.errors import GuichetError, parse_remote
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# kind (raised by a service or the gateway) -> (HTTP status, title)
TABLE: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Requête invalide"),
    "unauthorized": (401, "Authentification requise"),
    "forbidden": (403, "Accès refusé"),
    "not_found": (404, "Introuvable"),
    "conflict": (409, "Conflit"),
    "too_large": (413, "Fichier trop volumineux"),
    "unsupported_media": (415, "Format non accepté"),
    "invalid": (422, "Données invalides"),
    "too_many": (429, "Trop de tentatives"),
    "unavailable": (503, "Service indisponible"),
}
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str = "", errors: dict[str, list[str]] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def from_payload(data: dict[str, Any]) -> Response:
    status, title = TABLE.get(data.get("kind", ""), (400, "Requête invalide"))
    headers = {}
    extra = data.get("extra") or {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(int(extra["retry_after"]))
    if status == 503:
        headers.setdefault("Retry-After", "5")
    safe_extra = {k: v for k, v in extra.items() if k in ("retry_after", "missing", "limit_bytes", "accepted")}
    return problem(status, title, data.get("detail", ""), data.get("errors"), headers=headers, **safe_extra)


class ApiError(Exception):
    """Raised by gateway code for an error decided in the gateway itself."""

    def __init__(self, error: GuichetError) -> None:
        self.error = error


def is_api() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/.well-known/") \
        or request.path == "/healthz"


def init_errors(app: Flask) -> None:
    @app.errorhandler(GuichetError)
    def _guichet(exc: GuichetError) -> Response:
        return from_payload(exc.payload())

    @app.errorhandler(RemoteError)
    def _remote(exc: RemoteError) -> Response:
        data = parse_remote(exc.value)
        if data is None:
            # An unexpected failure inside a service: no details leave the system.
            log.error("remote error %s", exc.exc_type)
            return problem(500, "Erreur interne", "Une erreur inattendue s'est produite.")
        return from_payload(data)

    @app.errorhandler(RpcTimeout)
    @app.errorhandler(UnknownService)
    def _unavailable(exc: Exception) -> Response:
        log.warning("service unavailable: %s", type(exc).__name__)
        return from_payload({"kind": "unavailable", "detail": TABLE["unavailable"][1] + "."})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not is_api():
            return exc
        return problem(exc.code or 400, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unexpected error")
        if not is_api():
            from flask import render_template

            try:
                return render_template("errors/500.html"), 500
            except Exception:  # templates unavailable: a plain French message
                return Response("Erreur interne du serveur.", status=500, mimetype="text/plain")
        return problem(500, "Erreur interne", "Une erreur inattendue s'est produite.")
