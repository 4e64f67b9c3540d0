"""The error registry shared by services and gateway.

Services raise subclasses of these (declared in each service's exceptions.py). Over
RPC Nameko only carries the exception's type name and str(); so str() is a JSON
document with the error's `kind`, which the gateway maps to HTTP in one table.
"""
from __future__ import annotations

import json
from typing import Any


class GuichetError(Exception):
    kind = "bad_request"
    default_detail = "Requête invalide."

    def __init__(self, detail: str | None = None, errors: dict[str, list[str]] | None = None,
                 **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors or {}
        self.extra = extra
        super().__init__(self.detail)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "detail": self.detail}
        if self.errors:
            data["errors"] = self.errors
        if self.extra:
            data["extra"] = self.extra
        return data

    def __str__(self) -> str:
        return json.dumps(self.payload(), ensure_ascii=False)


class BadRequest(GuichetError):
    kind = "bad_request"


class Unauthorized(GuichetError):
    kind = "unauthorized"
    default_detail = "Authentification requise."


class Forbidden(GuichetError):
    kind = "forbidden"
    default_detail = "Vous n'avez pas les droits nécessaires."


class NotFound(GuichetError):
    kind = "not_found"
    default_detail = "Ressource introuvable."


class Conflict(GuichetError):
    kind = "conflict"
    default_detail = "Cette opération n'est pas possible dans l'état actuel."


class Invalid(GuichetError):
    kind = "invalid"
    default_detail = "Certaines données sont invalides."


class PayloadTooLarge(GuichetError):
    kind = "too_large"
    default_detail = "Le fichier est trop volumineux."


class UnsupportedMedia(GuichetError):
    kind = "unsupported_media"
    default_detail = "Format de fichier non accepté."


class TooManyRequests(GuichetError):
    kind = "too_many"
    default_detail = "Trop de tentatives. Réessayez plus tard."


class Unavailable(GuichetError):
    kind = "unavailable"
    default_detail = "Service momentanément indisponible. Réessayez dans quelques instants."


ALL = (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Invalid, PayloadTooLarge,
       UnsupportedMedia, TooManyRequests, Unavailable)


def parse_remote(value: str | None) -> dict[str, Any] | None:
    """The payload of a remote GuichetError, from the RemoteError's value; None otherwise."""
    if not value:
        return None
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if isinstance(data, dict) and "kind" in data:
        return data
    return None
