"""pytest plugin for the Nameko-side suite (`pytest -p guichet_common.testing.plugin`).

Eventlet's monkey patch comes first: Nameko containers hang without it. Browser tests
run in a separate pytest invocation without this plugin (Playwright's sync API and a
patched process do not mix).
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402

import os  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")

import pytest  # noqa: E402

from .env import MailSink, S3Server, TestEnv, clean_stale  # noqa: E402


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    clean_stale()
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def test_env(s3_server: S3Server) -> Iterator[TestEnv]:
    """For in-process containers (container_factory): SQLite databases, its own vhost."""
    env = TestEnv("c", s3_server, use_pg=False)
    for svc in ("identity", "demarches", "wallet", "notify"):
        env.migrate(svc)
    yield env
    env.close()


@pytest.fixture(scope="session")
def stack(s3_server: S3Server) -> Iterator[TestEnv]:
    """The four services as real processes (PostgreSQL when one answers), own vhost."""
    env = TestEnv("s", s3_server)
    try:
        env.start_all()
    except Exception:
        env.close()
        raise
    yield env
    env.close()


@pytest.fixture(scope="session")
def gateway_app(stack: TestEnv) -> Any:
    app = stack.gateway_app(TESTING=True)
    yield app
    app.extensions["rpc"].close()


@pytest.fixture
def client(gateway_app: Any) -> Any:
    return gateway_app.test_client()


@pytest.fixture
def mail(stack: TestEnv) -> MailSink:
    return stack.mail


class Citizen:
    def __init__(self, client: Any, email: str, password: str, tokens: dict[str, Any]) -> None:
        self.client = client
        self.email = email
        self.password = password
        self.tokens = tokens

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.tokens["access_token"]}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture
def make_citizen(client: Any, mail: MailSink) -> Any:
    """Register, activate through the mailed link and sign in a new citizen."""
    def make(tag: str = "c", password: str = "Versailles2026!", first_name: str = "Anne",
             last_name: str = "Martin") -> Citizen:
        addr = f"{tag}-{os.urandom(4).hex()}@example.test"
        r = client.post("/api/v1/accounts", json=dict(email=addr, password=password, first_name=first_name,
                                                      last_name=last_name))
        assert r.status_code == 202, r.get_data(as_text=True)
        token = mail.token(addr, "activation")
        assert token, f"no activation mail for {addr}"
        r = client.post("/api/v1/accounts/activate", json={"token": token})
        assert r.status_code == 200, r.get_data(as_text=True)
        return login(client, addr, password)
    return make


def login(client: Any, addr: str, password: str) -> Citizen:
    r = client.post("/api/v1/auth/login", json={"email": addr, "password": password})
    assert r.status_code == 200, r.get_data(as_text=True)
    return Citizen(client, addr, password, r.get_json())


@pytest.fixture
def agent(client: Any) -> Citizen:
    return login(client, "agent@guichet.test", "AgentDemo2026!")


@pytest.fixture
def admin(client: Any) -> Citizen:
    return login(client, "admin@guichet.test", "AdminDemo2026!")
