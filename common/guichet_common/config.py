"""Configuration from the environment, with embedded defaults for the local stack.

Every process of a stack reads the same variables (written by `make run` into
var/stack.env, or set by docker-compose), so one function builds each service's
Nameko config and tests can build the same dict by hand.
"""
from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SERVICES = ("identity", "demarches", "wallet", "notify")

# RPC in MessagePack (file bytes as bytes: see wire.py), JSON still accepted from older or
# plain clients (a reply goes back in the request's format). Events are published in JSON
# whatever this says (db.Store, EVENT_SERIALIZER): the gateway's live stream reads them.
RPC_SERIALIZATION: dict[str, Any] = {
    "serializer": "msgpack",
    "ACCEPT": ["msgpack", "json"],
    "SERIALIZERS": {"msgpack": {"encoder": "guichet_common.wire.dumps", "decoder": "guichet_common.wire.loads",
                                "content_type": "application/x-msgpack", "content_encoding": "binary"}},
}
EVENT_SERIALIZER = "json"
# Set in the environment of every Guichet process (make run, tests, images). glibc serves
# blocks above 128 KiB-32 MiB with fresh mmap()s and returns them on free, so each 1-2 MB
# file buffer (message body, ciphertext, reply) was paid again in page faults; from the heap
# they are reused: 2 MB wallet round trips 12 % faster (bench/wallet_throughput.py). Freed
# heap above 128 MiB still goes back to the system.
PROCESS_ENV: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "134217728"}
ROOT = Path(__file__).resolve().parents[2]


def var_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("GUICHET_VAR_DIR") or ROOT / "var").resolve()


def stack_vhost(var: Path) -> str:
    # Each var dir gets its own vhost so two stacks on one broker never see each other.
    return "guichet_" + hashlib.sha256(str(var).encode()).hexdigest()[:10]


def amqp_uri(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    uri = env.get("GUICHET_AMQP_URI")
    if uri:
        return uri
    return "amqp://guest:guest@127.0.0.1:5672/" + stack_vhost(var_dir(env))


def port(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("GUICHET_PORT") or 8000)


def base_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (env.get("GUICHET_BASE_URL") or f"http://127.0.0.1:{port(env)}").rstrip("/")


def db_url(service: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get(f"GUICHET_{service.upper()}_DB_URL")
    if url:
        return url
    return f"sqlite:///{var_dir(env) / 'db' / (service + '.db')}"


def mail_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("GUICHET_MAIL_DIR") or var_dir(env) / "mail")


def read_secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from GUICHET_<NAME> or from the file GUICHET_<NAME>_FILE (docker secrets)."""
    value = env.get(f"GUICHET_{name}")
    if value:
        return value
    path = env.get(f"GUICHET_{name}_FILE")
    if path and Path(path).exists():
        return Path(path).read_text().strip()
    return None


def _mailbox(name: str, addr: str) -> str:
    """`"Name" <addr>`, quoted so a comma or an accent in a city's name stays in the name
    (notify encodes it for the header)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{addr}>'


def service_config(service: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Nameko config of one service, built from the environment."""
    env = os.environ if env is None else env
    var = var_dir(env)
    cfg: dict[str, Any] = {
        "AMQP_URI": amqp_uri(env),
        "DB_URL": db_url(service, env),
        "BASE_URL": base_url(env),
        "VAR_DIR": str(var),
        "CITY_NAME": env.get("GUICHET_CITY_NAME", "Ville de Bellerive"),
        "max_workers": int(env.get("GUICHET_MAX_WORKERS", "10")),
        "parent_calls_tracked": 10,
        **copy.deepcopy(RPC_SERIALIZATION),
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"level": env.get("GUICHET_LOG_LEVEL", "INFO"), "handlers": ["console"]},
            "loggers": {"alembic": {"level": "WARNING"}},
        },
    }
    if service == "identity":
        cfg["SEED"] = {
            "agent_email": env.get("GUICHET_SEED_AGENT_EMAIL", "agent@guichet.test"),
            "agent_password": env.get("GUICHET_SEED_AGENT_PASSWORD", "AgentDemo2026!"),
            "admin_email": env.get("GUICHET_SEED_ADMIN_EMAIL", "admin@guichet.test"),
            "admin_password": env.get("GUICHET_SEED_ADMIN_PASSWORD", "AdminDemo2026!"),
        }
        cfg["ACCESS_TOKEN_TTL"] = int(env.get("GUICHET_ACCESS_TOKEN_TTL", "900"))
        cfg["REFRESH_TOKEN_TTL"] = int(env.get("GUICHET_REFRESH_TOKEN_TTL", str(30 * 86400)))
    if service == "wallet":
        cfg["S3"] = {
            "endpoint": env.get("GUICHET_S3_ENDPOINT", "127.0.0.1:8333"),
            "access_key": read_secret(env, "S3_ACCESS_KEY") or "guichet",
            "secret_key": read_secret(env, "S3_SECRET_KEY") or "guichet-secret",
            "bucket": env.get("GUICHET_S3_BUCKET", "guichet-wallet"),
            "secure": env.get("GUICHET_S3_SECURE", "false").lower() == "true",
        }
        cfg["MASTER_KEY"] = read_secret(env, "MASTER_KEY")
        cfg["MAX_UPLOAD_BYTES"] = int(env.get("GUICHET_MAX_UPLOAD_BYTES", str(2 * 1024 * 1024)))
        cfg["QUOTA_BYTES"] = int(env.get("GUICHET_WALLET_QUOTA_BYTES", str(100 * 1024 * 1024)))
    if service == "notify":
        cfg["SMTP"] = {
            "host": env.get("GUICHET_SMTP_HOST", "127.0.0.1"),
            "port": int(env.get("GUICHET_SMTP_PORT", "8025")),
            # Unset or empty: the mails come from the city, by its name.
            "sender": env.get("GUICHET_MAIL_FROM") or _mailbox(cfg["CITY_NAME"], "ne-pas-repondre@guichet.test"),
        }
        # Mail retry policy (small values in tests) and the brand colour of the emails.
        cfg["MAIL_RETRY_BASE_S"] = float(env.get("GUICHET_MAIL_RETRY_BASE_S", "30"))
        cfg["MAIL_RETRY_MAX_S"] = float(env.get("GUICHET_MAIL_RETRY_MAX_S", "3600"))
        cfg["MAIL_MAX_ATTEMPTS"] = int(env.get("GUICHET_MAIL_MAX_ATTEMPTS", "8"))
        cfg["MAIL_LEASE_S"] = float(env.get("GUICHET_MAIL_LEASE_S", "60"))
        cfg["BRAND_PRIMARY"] = env.get("GUICHET_BRAND_PRIMARY", "#1d4f91")
    return cfg
