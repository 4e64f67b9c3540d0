"""The Docker deployment built and run end to end.

Needs a Docker engine (checked with the docker SDK) and the compose plugin; skips,
saying which is missing, otherwise. Builds the images, starts the stack under its own
project name with two `demarches` replicas and free host ports (so it never meets a
`make run` stack or another compose project), waits for the gateway's /healthz, creates
an account through the API and finds the activation mail in Mailpit, then removes
everything it created (`down -v`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "demarches", "wallet", "notify")
BUILD_TIMEOUT = 3600
START_TIMEOUT = 600

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + START_TIMEOUT + 600)


def _docker_client() -> Any:
    try:
        import docker
        import docker.errors
    except ImportError as exc:
        pytest.skip(f"the docker Python SDK is not installed: {exc}")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        pytest.skip(f"no Docker engine answers here: {exc}")
    return client


def _compose_available() -> None:
    try:
        out = subprocess.run(
            ["docker", "compose", "version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"`docker compose version` failed: {exc}")
    if out.returncode != 0:
        pytest.skip("the docker compose plugin is not installed: " + (out.stderr or out.stdout).strip()[:200])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.project = f"guichet-e2e-{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.mail_port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.mailpit = f"http://127.0.0.1:{self.mail_port}"
        self.env = {
            **os.environ,
            "GUICHET_PORT": str(self.port),
            "GUICHET_BASE_URL": self.base_url,
            "MAILPIT_UI_PORT": str(self.mail_port),
            "MINIO_CONSOLE_PORT": str(_free_port()),
        }

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [
            "docker",
            "compose",
            "-p",
            self.project,
            "-f",
            "docker-compose.yml",
            *args,
        ]
        result = subprocess.run(
            cmd,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} -> {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def diagnostics(self) -> str:
        ps = self.compose("ps", "-a", check=False).stdout
        logs = self.compose("logs", "--no-color", "--tail", "80", check=False).stdout
        return f"{ps}\n{logs[-20000:]}"

    def containers(self, service: str) -> list[Any]:
        return self.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"{self.base_url}/healthz", timeout=5)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:300]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(3)
        pytest.fail(f"/healthz not 200 after {START_TIMEOUT}s: {last}\n{self.diagnostics()}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    client = _docker_client()
    _compose_available()
    s = Stack(client)
    s.compose("build", timeout=BUILD_TIMEOUT)
    try:
        s.compose("up", "-d", "--scale", "demarches=2", timeout=START_TIMEOUT)
        s.wait_healthy()
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", "--timeout", "30", check=False)


def test_healthz_reports_every_service(stack: Stack) -> None:
    r = requests.get(f"{stack.base_url}/healthz", timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["services"] == dict.fromkeys(SERVICES, "ok")


def test_every_container_is_healthy_and_demarches_runs_twice(stack: Stack) -> None:
    assert len(stack.containers("demarches")) == 2
    for service in ("rabbitmq", "postgres", "minio", "mailpit", *SERVICES, "gateway"):
        containers = stack.containers(service)
        assert containers, f"{service} is not running\n{stack.diagnostics()}"
        for c in containers:
            c.reload()
            health = c.attrs["State"].get("Health", {}).get("Status")
            assert health == "healthy", f"{c.name}: {health}\n{stack.diagnostics()}"


def test_guichet_containers_do_not_run_as_root(stack: Stack) -> None:
    for service in (*SERVICES, "gateway"):
        for c in stack.containers(service):
            code, out = c.exec_run(["id", "-u"])
            assert code == 0 and out.decode().strip() not in ("", "0"), c.name


def test_wallet_master_key_was_generated(stack: Stack) -> None:
    (wallet,) = stack.containers("wallet")
    code, out = wallet.exec_run(["sh", "-c", 'test -s "$GUICHET_MASTER_KEY_FILE"'])
    assert code == 0, out


def test_account_creation_sends_activation_mail_to_mailpit(stack: Stack) -> None:
    email = f"e2e-{uuid.uuid4().hex[:10]}@guichet.test"
    r = requests.post(
        f"{stack.base_url}/api/v1/accounts",
        json={
            "email": email,
            "password": "Citoyen2026!",
            "first_name": "Camille",
            "last_name": "Martin",
        },
        timeout=30,
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "pending"}

    deadline = time.monotonic() + 60
    found: dict[str, Any] | None = None
    while time.monotonic() < deadline and found is None:
        listing = requests.get(f"{stack.mailpit}/api/v1/messages", timeout=10)
        listing.raise_for_status()
        for msg in listing.json().get("messages", []):
            if any(to.get("Address", "").lower() == email for to in msg.get("To", [])):
                found = msg
                break
        else:
            time.sleep(1)
    assert found, f"no mail to {email} in Mailpit\n{stack.diagnostics()}"

    full = requests.get(f"{stack.mailpit}/api/v1/message/{found['ID']}", timeout=10)
    full.raise_for_status()
    text = (full.json().get("Text") or "") + (full.json().get("HTML") or "")
    assert f"{stack.base_url}/" in text, "the activation link does not use GUICHET_BASE_URL"
