"""The JSON API under /api/v1. Each area adds its routes to `bp` in its own module."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from guichet_common.errors import BadRequest

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def rpc(service: str, method: str, *args: Any, **kwargs: Any) -> Any:
    return current_app.extensions["rpc"].call(service, method, *args, **kwargs)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 problem."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Le corps de la requête doit être un objet JSON.")
    return data


def page_args() -> tuple[int, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
        size = min(max(1, int(request.args.get("page_size", 50))), 200)
    except ValueError:
        raise BadRequest("Les paramètres page et page_size doivent être des nombres entiers.") from None
    return page, size


def client_id() -> str:
    return request.remote_addr or "unknown"


from . import (  # noqa: E402,F401  (demarches: catalogue, demandes, back-office)
    accounts,  # noqa: E402,F401  (registers its routes)
    associations,  # noqa: E402,F401  (identity: associations and rights)
    backoffice,
    demarches,
    notifications,  # noqa: E402,F401  (notify: the inbox)
    wallet,  # noqa: E402,F401  (wallet: porte-documents, justificatifs)
)
