"""Access tokens: Ed25519-signed JWTs issued by identity, verified everywhere else.

Identity holds the private keys; every other party verifies against the public JWKS it
gets from identity over RPC, and refreshes it when it meets an unknown `kid` (key
rotation without logging anyone out).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm

from .errors import Forbidden, Unauthorized

ISSUER = "guichet-identity"
AUDIENCE = "guichet"
ALGORITHM = "EdDSA"
STAFF_ROLES = frozenset({"agent", "admin"})


@dataclass(frozen=True)
class Caller:
    id: str
    email: str
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str = ""

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    def require_role(self, *roles: str) -> None:
        if not self.roles & set(roles):
            raise Forbidden("Cette action est réservée aux agents de la ville.")

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "Caller":
        return cls(id=str(claims["sub"]), email=claims.get("email", ""),
                   roles=frozenset(claims.get("roles", [])), name=claims.get("name", ""))


def public_keys(jwks: dict[str, Any]) -> dict[str, Any]:
    keys = {}
    for jwk in jwks.get("keys", []):
        keys[jwk["kid"]] = OKPAlgorithm.from_jwk(json.dumps(jwk))
    return keys


def decode(token: str, keys: dict[str, Any], leeway: int = 5) -> dict[str, Any]:
    """Verified claims of an access token; Unauthorized for anything else."""
    if not token or not isinstance(token, str):
        raise Unauthorized()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("Jeton invalide.") from None
    if header.get("alg") != ALGORITHM:  # refuses alg=none and algorithm confusion
        raise Unauthorized("Jeton invalide.")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise UnknownKey()
    try:
        claims = jwt.decode(token, key=key, algorithms=[ALGORITHM], audience=AUDIENCE,
                            issuer=ISSUER, leeway=leeway,
                            options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Session expirée.") from None
    except jwt.PyJWTError:
        raise Unauthorized("Jeton invalide.") from None
    if claims.get("typ") != "access":
        raise Unauthorized("Jeton invalide.")
    return claims


class UnknownKey(Unauthorized):
    default_detail = "Jeton signé par une clé inconnue."


class Verifier:
    """Verifies tokens with a JWKS cache, refreshed on an unknown kid (rate-limited)."""

    def __init__(self, fetch_jwks: Callable[[], dict[str, Any]], min_refresh_s: float = 10.0,
                 max_age_s: float = 300.0) -> None:
        self._fetch = fetch_jwks
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._min_refresh = min_refresh_s
        self._max_age = max_age_s

    def _refresh(self, force: bool) -> None:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if (force and age < self._min_refresh) or (not force and age < self._max_age and self._keys):
                return
            self._keys = public_keys(self._fetch())
            self._fetched_at = time.monotonic()

    def verify(self, token: str) -> Caller:
        self._refresh(force=False)
        try:
            claims = decode(token, self._keys)
        except UnknownKey:
            self._refresh(force=True)
            claims = decode(token, self._keys)
        return Caller.from_claims(claims)


try:
    from nameko.extensions import DependencyProvider

    from guichet_common.rpc import ClusterRpcProxy

    class Authenticator(DependencyProvider):
        """DependencyProvider for services other than identity: `self.auth.verify(token)`."""

        def setup(self) -> None:
            config = self.container.config

            def fetch() -> dict[str, Any]:
                with ClusterRpcProxy(config, timeout=10) as rpc:
                    return rpc.identity.jwks()

            self.verifier = Verifier(fetch)

        def get_dependency(self, worker_ctx: Any) -> Verifier:
            return self.verifier
except ImportError:  # pragma: no cover
    pass
