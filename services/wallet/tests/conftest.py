"""Wallet containers for broker tests: the real service with a test token signer (its own
Ed25519 key, verified by the real guichet_common.auth.Verifier) instead of identity."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from guichet_common.rpc import ClusterRpcProxy
from guichet_common.testing.tokens import Person, TestAuth  # noqa: F401 (Person is used by the tests)
from guichet_wallet.service import WalletService


def load_samples() -> Any:
    spec = importlib.util.spec_from_file_location("wallet_samples", Path(__file__).with_name("samples.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WalletUnderTest(WalletService):
    auth = TestAuth()  # type: ignore[assignment]


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
