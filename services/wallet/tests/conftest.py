"""Wallet containers for broker tests: the real service with a test token signer (its own
Ed25519 key, verified by the real guichet_common.auth.Verifier) instead of identity."""
from __future__ import annotations

import importlib.util
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from guichet_common.auth import ALGORITHM, AUDIENCE, ISSUER, Verifier
from guichet_wallet.service import WalletService
from jwt.algorithms import OKPAlgorithm
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ClusterRpcProxy

_KEY = Ed25519PrivateKey.generate()
_JWKS = {"keys": [{**json.loads(OKPAlgorithm.to_jwk(_KEY.public_key())), "kid": "wallet-test", "alg": ALGORITHM}]}


def load_samples() -> Any:
    spec = importlib.util.spec_from_file_location("wallet_samples", Path(__file__).with_name("samples.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_token(sub: str, roles: tuple[str, ...] = ("citizen",), name: str = "Anne Martin") -> str:
    now = int(time.time())
    claims = {"sub": sub, "email": f"{sub}@example.test", "roles": list(roles), "name": name, "typ": "access",
              "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 900}
    return jwt.encode(claims, _KEY, algorithm=ALGORITHM, headers={"kid": "wallet-test"})


class TestAuth(DependencyProvider):
    __test__ = False

    def setup(self) -> None:
        self.verifier = Verifier(lambda: _JWKS)

    def get_dependency(self, worker_ctx: Any) -> Verifier:
        return self.verifier


class WalletUnderTest(WalletService):
    auth = TestAuth()  # type: ignore[assignment]


class Person:
    def __init__(self, roles: tuple[str, ...] = ("citizen",), name: str = "Anne Martin") -> None:
        self.id = uuid.uuid4().hex
        self.token = make_token(self.id, roles, name)


@pytest.fixture
def start_wallet(container_factory: Any, test_env: Any) -> Any:
    """start_wallet(**config overrides) -> (container, config); started and ready."""
    def start(**overrides: Any) -> Any:
        config = test_env.service_config("wallet", **overrides)
        container = container_factory(WalletUnderTest, config)
        container.start()
        return container, config
    return start


@pytest.fixture
def wallet(start_wallet: Any) -> Any:
    """(container, rpc proxy to wallet, config) with the default config."""
    container, config = start_wallet()
    with ClusterRpcProxy(config, timeout=30) as rpc:
        yield container, rpc.wallet, config
