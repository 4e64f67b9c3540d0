"""Who is calling: the bearer token (API) or the session cookie (pages), verified locally.

The gateway verifies signatures itself (no RPC per request) with the JWKS it fetched
from identity; the services verify again what they own.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from guichet_common.auth import Caller, Verifier
from guichet_common.errors import Forbidden, Unauthorized

ACCESS_COOKIE = "guichet_access"
REFRESH_COOKIE = "guichet_refresh"

F = TypeVar("F", bound=Callable[..., Any])


def verifier() -> Verifier:
    return current_app.extensions["guichet_verifier"]  # type: ignore[no-any-return]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def current_caller(allow_cookie: bool = False) -> Caller | None:
    """The verified caller, or None for an anonymous request; Unauthorized for a bad token."""
    if "caller" in g:
        return g.caller  # type: ignore[no-any-return]
    token = bearer_token()
    if token is None and allow_cookie:
        token = request.cookies.get(ACCESS_COOKIE)
    if token is None:
        return None
    g.caller = verifier().verify(token)
    g.token = token
    return g.caller  # type: ignore[no-any-return]


def require_auth(fn: F) -> F:
    """API routes: a valid bearer token is required; `g.caller` and `g.token` are set."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_caller() is None:
            raise Unauthorized("Authentification requise : jeton d'accès manquant.")
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def require_staff(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = current_caller()
        if caller is None:
            raise Unauthorized("Authentification requise : jeton d'accès manquant.")
        if not caller.is_staff:
            raise Forbidden("Réservé aux agents de la ville.")
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
