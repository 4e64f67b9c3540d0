"""A test token signer for broker tests of services other than identity: its own Ed25519
key, verified by the real guichet_common.auth.Verifier, so a service container can run
without identity on the broker."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from nameko.extensions import DependencyProvider

from ..auth import ALGORITHM, AUDIENCE, ISSUER, Verifier

KID = "test-signer"
_KEY = Ed25519PrivateKey.generate()
JWKS = {"keys": [{**json.loads(OKPAlgorithm.to_jwk(_KEY.public_key())), "kid": KID, "alg": ALGORITHM}]}


def make_token(sub: str, roles: tuple[str, ...] = ("citizen",), name: str = "Anne Martin") -> str:
    now = int(time.time())
    claims = {"sub": sub, "email": f"{sub}@example.test", "roles": list(roles), "name": name, "typ": "access",
              "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}
    return jwt.encode(claims, _KEY, algorithm=ALGORITHM, headers={"kid": KID})


class TestAuth(DependencyProvider):
    """Replaces a service's Authenticator: verifies against the test signer's JWKS."""

    __test__ = False

    def setup(self) -> None:
        self.verifier = Verifier(lambda: JWKS)

    def get_dependency(self, worker_ctx: Any) -> Verifier:
        return self.verifier


class Person:
    """Someone with an id and a signed access token."""

    def __init__(self, roles: tuple[str, ...] = ("citizen",), name: str = "Anne Martin") -> None:
        self.id = uuid.uuid4().hex
        self.token = make_token(self.id, roles, name)
