"""An isolated Guichet environment for tests: its own vhost, databases, mail sink and
bucket, on the real broker, real PostgreSQL or SQLite, real S3 and real SMTP.

Plain classes (no pytest, no eventlet) so the browser tests can use them too.
"""
from __future__ import annotations

import base64
import email
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from email.message import Message
from pathlib import Path
from typing import Any

from .. import config, devstack

ROOT = config.ROOT
PYTHONPATH = ":".join(str(ROOT / p) for p in (
    "common", "services/identity", "services/demarches", "services/wallet", "services/notify", "gateway"))
BROKER = os.environ.get("GUICHET_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN = os.environ.get("GUICHET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RUN_TAG = f"{os.getpid()}_{secrets.token_hex(3)}"


def pg_available() -> bool:
    if os.environ.get("GUICHET_TEST_DB") == "sqlite":
        return False
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def clean_stale() -> None:
    """Remove vhosts and databases left by earlier runs whose process is gone."""
    def dead(name: str) -> bool:
        m = re.match(r"^(?:guichet_test|gt)_(\d+)_", name)
        if not m:
            return False
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    for vhost in devstack.list_vhosts(BROKER):
        if dead(vhost):
            devstack.delete_vhost(BROKER.rstrip("/") + "/" + vhost)
    if pg_available():
        import psycopg

        with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'gt\\_%'")]
        for name in names:
            if dead(name):
                _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class S3Server:
    """SeaweedFS `weed mini` on free loopback ports, in a temp dir."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="guichet-s3-"))
        self.ports = devstack.weed_ports()
        self.access_key = "test-" + secrets.token_hex(4)
        self.secret_key = devstack.new_secret()
        self.endpoint = f"127.0.0.1:{self.ports['s3']}"
        cmd = devstack.weed_command(self.dir / "data", self.ports, self.access_key, self.secret_key)
        self.log = open(self.dir / "weed.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        devstack.wait_s3(self.endpoint, self.access_key, self.secret_key)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same ports and data (outage tests)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        cmd = devstack.weed_command(self.dir / "data", self.ports, self.access_key, self.secret_key)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        devstack.wait_s3(self.endpoint, self.access_key, self.secret_key)


class MailSink:
    """The real SMTP sink as a subprocess writing .eml files into a directory."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or devstack.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guichet_common.mailsink", "--port", str(self.port), "--dir", str(self.dir)],
            env=dict(os.environ, PYTHONPATH=PYTHONPATH), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        devstack.wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self) -> list[Message]:
        out = []
        for f in sorted(self.dir.glob("*.eml")):
            out.append(email.message_from_bytes(f.read_bytes()))
        return out

    def to(self, addr: str, wait_s: float = 15.0, at_least: int = 1, subject: str = "") -> list[Message]:
        deadline = time.monotonic() + wait_s
        while True:
            found = [m for m in self.messages() if addr.lower() in (m.get("To") or "").lower()
                     and subject.lower() in str(email.header.make_header(email.header.decode_header(
                         m.get("Subject") or ""))).lower()]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    @staticmethod
    def body(m: Message) -> str:
        parts = [p for p in m.walk() if p.get_content_type() == "text/plain"]
        return "\n".join(p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")  # type: ignore[union-attr]
                         for p in parts)

    def link(self, addr: str, word: str, wait_s: float = 15.0) -> str | None:
        for m in reversed(self.to(addr, wait_s)):
            links = [x for x in re.findall(r"https?://[^\s\"'<>]+", self.body(m)) if word in x]
            if links:
                return links[-1]
        return None

    def token(self, addr: str, word: str, wait_s: float = 15.0) -> str | None:
        link = self.link(addr, word, wait_s)
        m = re.search(r"token=([^&#\s]+)", link or "")
        return m.group(1) if m else None


class TestEnv:
    """One isolated set of vhost, databases, mail sink and bucket."""

    __test__ = False  # not a pytest test class

    def __init__(self, tag: str, s3: S3Server, use_pg: bool | None = None) -> None:
        self.tag = tag
        self.s3 = s3
        self.tmp = Path(tempfile.mkdtemp(prefix=f"guichet-{tag}-"))
        self.vhost = f"guichet_test_{RUN_TAG}_{tag}"
        self.amqp_uri = BROKER.rstrip("/") + "/" + self.vhost
        devstack.ensure_vhost(self.amqp_uri)
        self.use_pg = pg_available() if use_pg is None else use_pg
        self.db_urls: dict[str, str] = {}
        for svc in config.SERVICES:
            if self.use_pg:
                name = f"gt_{RUN_TAG}_{tag}_{svc}"
                _pg_exec(f'CREATE DATABASE "{name}"')
                self.db_urls[svc] = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            else:
                self.db_urls[svc] = f"sqlite:///{self.tmp / 'db' / (svc + '.db')}"
        self.mail = MailSink(self.tmp / "mail")
        self.bucket = f"gt-{RUN_TAG.replace('_', '-')}-{tag}".lower()[:60]
        self.master_key = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.port = devstack.free_port()
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}

    def env(self) -> dict[str, str]:
        e = {
            "GUICHET_VAR_DIR": str(self.tmp / "var"),
            "GUICHET_MAIL_DIR": str(self.mail.dir),
            "GUICHET_AMQP_URI": self.amqp_uri,
            "GUICHET_PORT": str(self.port),
            "GUICHET_BASE_URL": f"http://127.0.0.1:{self.port}",
            "GUICHET_S3_ENDPOINT": self.s3.endpoint,
            "GUICHET_S3_ACCESS_KEY": self.s3.access_key,
            "GUICHET_S3_SECRET_KEY": self.s3.secret_key,
            "GUICHET_S3_BUCKET": self.bucket,
            "GUICHET_MASTER_KEY": self.master_key,
            "GUICHET_SMTP_HOST": "127.0.0.1",
            "GUICHET_SMTP_PORT": str(self.mail.port),
            "GUICHET_SECRET_KEY": "test-secret-" + self.tag,
        }
        for svc, url in self.db_urls.items():
            e[f"GUICHET_{svc.upper()}_DB_URL"] = url
        return e

    def service_config(self, service: str, **overrides: Any) -> dict[str, Any]:
        cfg = config.service_config(service, self.env())
        cfg.update(overrides)
        return cfg

    def migrate(self, service: str) -> None:
        from ..serve import prepare

        prepare(service, self.service_config(service))

    # --- services as real processes ------------------------------------------------
    def start_service(self, service: str, replicas: int = 1, extra_env: dict[str, str] | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=PYTHONPATH, PYTHONWARNINGS="ignore", **config.PROCESS_ENV, **self.env(),
                   **(extra_env or {}))
        logdir = self.tmp / "logs"
        logdir.mkdir(exist_ok=True)
        procs = self.procs.setdefault(service, [])
        for i in range(replicas):
            log = open(logdir / f"{service}-{len(procs)}.log", "ab")
            args = [sys.executable, "-m", "guichet_common.serve", service]
            if procs or i:
                args.append("--no-migrate")  # the first one migrated already
            procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))
            if len(procs) == 1:
                self.wait_healthy(service)

    def wait_healthy(self, service: str, timeout: float = 60.0) -> None:
        env = dict(os.environ, PYTHONPATH=PYTHONPATH, PYTHONWARNINGS="ignore", **config.PROCESS_ENV, **self.env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run([sys.executable, "-m", "guichet_common.serve", service, "--check"], env=env,
                               capture_output=True)
            if r.returncode == 0:
                return
            for p in self.procs.get(service, []):
                if p.poll() is not None:
                    raise RuntimeError(f"{service} exited: {self.log_tail(service)}")
            time.sleep(0.3)
        raise TimeoutError(f"{service} not healthy: {self.log_tail(service)}")

    def log_tail(self, service: str, n: int = 3000) -> str:
        logs = sorted((self.tmp / "logs").glob(f"{service}-*.log"))
        return "".join(p.read_text(errors="replace")[-n:] for p in logs)

    def start_all(self) -> None:
        for svc in config.SERVICES:
            self.start_service(svc)

    def stop_service(self, service: str, kill: bool = False) -> None:
        for p in self.procs.pop(service, []):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def gateway_app(self, **overrides: Any) -> Any:
        """The gateway's Flask app for this environment (in-process)."""
        old = dict(os.environ)
        os.environ.update(self.env())
        try:
            from guichet_gateway import create_app

            return create_app(overrides or None)
        finally:
            os.environ.clear()
            os.environ.update(old)

    def close(self) -> None:
        for svc in list(self.procs):
            self.stop_service(svc)
        self.mail.stop()
        devstack.delete_vhost(self.amqp_uri)
        if self.use_pg:
            for url in self.db_urls.values():
                name = url.rsplit("/", 1)[1]
                try:
                    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception:  # best effort: the next run cleans stale ones
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)
