"""The shape of the Docker deployment, checked without a Docker engine.

docker-compose.yml, deploy/docker/Dockerfile, the entry point and the PostgreSQL init
script are read as text/YAML and held to what CONTRACT.md §1 and docs/DEVELOPING.md
promise: every container has a healthcheck and a restart policy, the four services scale
(no container_name, no host ports), start-up waits on health, images are pinned, the
images install exactly requirements.lock, and compose passes only known settings.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_DIR = ROOT / "deploy" / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
OVERRIDE_FILE = DOCKER_DIR / "compose.master-key.yml"

SERVICES = ("identity", "demarches", "wallet", "notify")
INFRA = ("rabbitmq", "postgres", "minio", "mailpit")
ALL_CONTAINERS = (*INFRA, *SERVICES, "gateway")

# The GUICHET_* settings the code reads (the deployment brief / docs). Compose may pass
# or interpolate only these; a new one must be added here on purpose.
GUICHET_ENV_ALLOWED = {
    "GUICHET_AMQP_URI",
    "GUICHET_IDENTITY_DB_URL",
    "GUICHET_DEMARCHES_DB_URL",
    "GUICHET_WALLET_DB_URL",
    "GUICHET_NOTIFY_DB_URL",
    "GUICHET_S3_ENDPOINT",
    "GUICHET_S3_ACCESS_KEY",
    "GUICHET_S3_SECRET_KEY",
    "GUICHET_S3_BUCKET",
    "GUICHET_S3_SECURE",
    "GUICHET_SMTP_HOST",
    "GUICHET_SMTP_PORT",
    "GUICHET_MAIL_FROM",
    "GUICHET_BASE_URL",
    "GUICHET_MASTER_KEY_FILE",
    "GUICHET_CITY_NAME",
    "GUICHET_SEED_AGENT_EMAIL",
    "GUICHET_SEED_AGENT_PASSWORD",
    "GUICHET_SEED_ADMIN_EMAIL",
    "GUICHET_SEED_ADMIN_PASSWORD",
    "GUICHET_PORT",
    # read by the gateway (cookie signing); empty means generated into a volume
    "GUICHET_SECRET_KEY",
    # build arguments of the gateway's front-end (deploy/local/build_assets.sh)
    "GUICHET_BRAND_PRIMARY",
    "GUICHET_BRAND_SECONDARY",
    "GUICHET_BRAND_FONT",
    "GUICHET_BRAND_LOGO",
}

# The settings each service needs from compose, beyond the common ones.
SERVICE_ENV_REQUIRED = {
    "identity": {
        "GUICHET_IDENTITY_DB_URL",
        "GUICHET_SEED_AGENT_EMAIL",
        "GUICHET_SEED_AGENT_PASSWORD",
        "GUICHET_SEED_ADMIN_EMAIL",
        "GUICHET_SEED_ADMIN_PASSWORD",
    },
    "demarches": {"GUICHET_DEMARCHES_DB_URL"},
    "wallet": {
        "GUICHET_WALLET_DB_URL",
        "GUICHET_S3_ENDPOINT",
        "GUICHET_S3_ACCESS_KEY",
        "GUICHET_S3_SECRET_KEY",
        "GUICHET_S3_BUCKET",
        "GUICHET_S3_SECURE",
        "GUICHET_MASTER_KEY_FILE",
    },
    "notify": {
        "GUICHET_NOTIFY_DB_URL",
        "GUICHET_SMTP_HOST",
        "GUICHET_SMTP_PORT",
        "GUICHET_MAIL_FROM",
    },
}
COMMON_ENV_REQUIRED = {"GUICHET_AMQP_URI", "GUICHET_BASE_URL", "GUICHET_CITY_NAME"}

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRETISH = re.compile(r"PASSWORD|SECRET|_PASS$|_KEY$|TOKEN", re.IGNORECASE)


# --- helpers ---


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _strings(node: Any) -> list[str]:
    """Every string (keys and values) in a YAML tree."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{stage name: [(INSTR, args), ...]}, the stage's FROM first."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for instr, args in _dockerfile_instructions(path):
        if instr == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert m, f"unreadable FROM {args!r}"
            name = m.group(2) or f"stage{len(stages)}"
            current = [("FROM", m.group(1))]
            stages[name] = current
        elif current is not None:
            current.append((instr, args))
    return stages


def _resolve_args(image: str, path: Path) -> str:
    """${ARG} in a FROM image replaced by its default declared before any FROM."""
    defaults: dict[str, str] = {}
    for instr, args in _dockerfile_instructions(path):
        if instr == "FROM":
            break
        if instr == "ARG" and "=" in args:
            k, v = args.split("=", 1)
            defaults[k.strip()] = v.strip().strip('"')
    return re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), image)


def _stage_chain(stages: dict[str, list[tuple[str, str]]], name: str) -> list[str]:
    chain = [name]
    while stages[chain[-1]][0][1] in stages:
        chain.append(stages[chain[-1]][0][1])
    return chain


def _image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return bool(tag) and tag != "latest" and "$" not in tag


# --- the compose file ---


def test_compose_has_every_container(services: dict[str, dict[str, Any]]) -> None:
    assert set(ALL_CONTAINERS) <= set(services), set(ALL_CONTAINERS) - set(services)


def test_every_container_has_healthcheck_and_restart_policy(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        assert svc.get("restart") == "unless-stopped", f"{name}: restart policy"
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable"), f"{name}: no healthcheck"
        test = hc.get("test")
        assert test and test not in (["NONE"], "NONE"), f"{name}: empty healthcheck"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck {test}"
        for key in ("interval", "timeout", "retries"):
            assert key in hc, f"{name}: healthcheck without {key}"


def test_scalable_services_have_no_fixed_name_nor_host_port(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICES:
        svc = services[name]
        assert "container_name" not in svc, f"{name} has a container_name: it cannot scale"
        assert "ports" not in svc, f"{name} publishes host ports: it cannot scale"
        assert "hostname" not in svc, f"{name} has a fixed hostname"
        assert "deploy" not in svc or "replicas" not in (svc["deploy"] or {}), name


def test_no_container_name_anywhere(services: dict[str, dict[str, Any]]) -> None:
    assert [n for n, s in services.items() if "container_name" in s] == []


def test_only_gateway_and_operator_consoles_publish_ports(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"gateway", "mailpit", "minio"}
    gateway_ports = [str(p) for p in services["gateway"]["ports"]]
    assert gateway_ports == ["${GUICHET_PORT:-8000}:8000"]
    for name in ("mailpit", "minio"):  # consoles: loopback only
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} publicly"
    assert any(str(p).endswith(":8025") for p in services["mailpit"]["ports"])


def test_services_start_and_are_checked_through_guichet_common_serve(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == ["python", "-m", "guichet_common.serve", name]
        assert svc["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "guichet_common.serve",
            name,
            "--check",
        ]
        assert svc.get("init") is True, f"{name}: no init to forward signals"


def test_gateway_healthcheck_reads_healthz(services: dict[str, dict[str, Any]]) -> None:
    test = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in test


def test_infrastructure_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert services["rabbitmq"]["healthcheck"]["test"] == [
        "CMD",
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "readyz" in " ".join(services["mailpit"]["healthcheck"]["test"])
    assert " ".join(services["minio"]["healthcheck"]["test"][1:]) == "mc ready local"


def test_depends_on_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "identity": {"rabbitmq", "postgres"},
        "demarches": {"rabbitmq", "postgres"},
        "wallet": {"rabbitmq", "postgres", "minio"},
        "notify": {"rabbitmq", "postgres", "mailpit"},
        "gateway": set(SERVICES),
    }
    for name, deps in expected.items():
        dep = services[name].get("depends_on")
        assert isinstance(dep, dict), f"{name}: depends_on must use the long syntax"
        assert set(dep) == deps, f"{name} depends on {set(dep)}, expected {deps}"
    for name, svc in services.items():
        for target, cond in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert cond.get("condition") == "service_healthy", f"{name} -> {target}"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "rabbitmq": "rabbitmq:3.13-management",
        "postgres": "postgres:16-bookworm",
    }
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name}: no image name"
        assert _image_is_pinned(image), f"{name}: image {image!r} is not pinned"
        if name in expected:
            assert image == expected[name]
    assert re.fullmatch(
        r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
        services["minio"]["image"],
    )
    assert re.fullmatch(r"axllent/mailpit:v\d+\.\d+\.\d+", services["mailpit"]["image"])


def test_built_images_use_the_dockerfile_targets(
    services: dict[str, dict[str, Any]],
) -> None:
    stages = _stages(DOCKERFILE)
    images = set()
    for name in (*SERVICES, "gateway"):
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name}: no build section"
        assert (ROOT / build["context"]).resolve() == ROOT
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.resolve() == DOCKERFILE.resolve()
        expected_target = "gateway" if name == "gateway" else "service"
        assert build["target"] == expected_target
        assert expected_target in stages
        images.add(services[name]["image"])
    assert len(images) == len(SERVICES) + 1, "one image name per built container"


def test_named_volumes_hold_the_data(compose: dict[str, Any]) -> None:
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    mounts = {
        "rabbitmq": "/var/lib/rabbitmq",
        "postgres": "/var/lib/postgresql/data",
        "minio": "/data",
        "mailpit": "/data",
    }
    for name, target in mounts.items():
        named = [v.split(":")[0] for v in services[name].get("volumes", []) if v.split(":")[1] == target]
        assert named and named[0] in volumes, f"{name}: {target} is not on a named volume"
    # The services themselves keep nothing locally but the keys made on first start.
    for name in ("identity", "demarches", "notify"):
        assert not services[name].get("volumes"), f"{name} mounts volumes"
    assert services["gateway"]["volumes"] == ["gateway-secrets:/app/var/secrets"]
    assert "gateway-secrets" in volumes


def test_rabbitmq_keeps_its_node_name_and_vhost(
    services: dict[str, dict[str, Any]],
) -> None:
    rabbit = services["rabbitmq"]
    assert rabbit.get("hostname") == "rabbitmq"  # data dir is named after the node
    env = _env(rabbit)
    assert env["RABBITMQ_DEFAULT_VHOST"] == "guichet"
    assert env["RABBITMQ_DEFAULT_USER"] == "guichet"
    amqp = _env(services["identity"])["GUICHET_AMQP_URI"]
    assert amqp.startswith("amqp://guichet:") and amqp.endswith("@rabbitmq:5672/guichet")


def test_postgres_init_script_is_mounted_and_creates_the_four_databases(
    services: dict[str, dict[str, Any]],
) -> None:
    pg = services["postgres"]
    mounts = [v for v in pg["volumes"] if "/docker-entrypoint-initdb.d" in v]
    assert mounts, "postgres: init scripts are not mounted"
    host_dir = ROOT / mounts[0].split(":")[0]
    assert host_dir.resolve() == (DOCKER_DIR / "postgres-init").resolve()
    scripts = sorted(p for p in host_dir.iterdir() if p.suffix in (".sql", ".sh"))
    assert scripts, "no init script"
    text = "\n".join(p.read_text(encoding="utf-8") for p in scripts)
    created = set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?\s+OWNER\s+\"?(\w+)", text, re.IGNORECASE))
    user = _env(pg)["POSTGRES_USER"]
    assert {(svc, user) for svc in SERVICES} <= created
    for svc in SERVICES:
        url = _env(services[svc])[f"GUICHET_{svc.upper()}_DB_URL"]
        assert url.startswith(f"postgresql+psycopg://{user}:"), url
        assert url.endswith(f"@postgres:5432/{svc}"), url


def test_guichet_settings_are_known(compose: dict[str, Any]) -> None:
    used = set()
    for svc in compose["services"].values():
        used |= {k for k in _env(svc) if k.startswith("GUICHET_")}
        used |= {k for k in (svc.get("build") or {}).get("args", {}) or {} if k.startswith("GUICHET_")}
    for s in _strings(compose):
        used |= {v for v in INTERPOLATION.findall(s) if v.startswith("GUICHET_")}
    unknown = used - GUICHET_ENV_ALLOWED
    assert not unknown, f"settings nobody reads (or add them to the allow-list): {unknown}"


def test_each_service_gets_what_it_needs_and_only_its_database(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVICES:
        env = set(_env(services[name]))
        missing = (COMMON_ENV_REQUIRED | SERVICE_ENV_REQUIRED[name]) - env
        assert not missing, f"{name} lacks {missing}"
        foreign_dbs = {k for k in env if k.endswith("_DB_URL")} - {f"GUICHET_{name.upper()}_DB_URL"}
        assert not foreign_dbs, f"{name} gets another service's database: {foreign_dbs}"
    gateway_env = set(_env(services["gateway"]))
    assert COMMON_ENV_REQUIRED <= gateway_env
    assert not {k for k in gateway_env if k.endswith("_DB_URL")}


def test_smtp_goes_to_mailpit_and_s3_to_minio(
    services: dict[str, dict[str, Any]],
) -> None:
    notify = _env(services["notify"])
    assert notify["GUICHET_SMTP_HOST"] == "${GUICHET_SMTP_HOST:-mailpit}"
    assert notify["GUICHET_SMTP_PORT"] == "${GUICHET_SMTP_PORT:-1025}"
    wallet = _env(services["wallet"])
    assert wallet["GUICHET_S3_ENDPOINT"] == "minio:9000"
    assert wallet["GUICHET_S3_SECURE"] == "false"
    minio = _env(services["minio"])
    assert wallet["GUICHET_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert wallet["GUICHET_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]


def test_passwords_come_from_the_environment(compose: dict[str, Any]) -> None:
    """No literal password: each is `${VAR:-dev default}`, overridable from `.env`."""
    for name, svc in compose["services"].items():
        for key, value in _env(svc).items():
            if SECRETISH.search(key) and not key.endswith("_FILE"):
                assert value.startswith("${"), f"{name}.{key} is a literal secret"
    pg_password = _env(compose["services"]["postgres"])["POSTGRES_PASSWORD"]
    var = INTERPOLATION.findall(pg_password)[0]
    for svc in SERVICES:  # the same variable everywhere the password is used
        url = _env(compose["services"][svc])[f"GUICHET_{svc.upper()}_DB_URL"]
        assert INTERPOLATION.findall(url) == [var]


def test_wallet_master_key_lives_on_a_named_volume(compose: dict[str, Any]) -> None:
    wallet = compose["services"]["wallet"]
    key_file = _env(wallet)["GUICHET_MASTER_KEY_FILE"]
    key_dir = os.path.dirname(key_file)
    mounts = {v.split(":")[1]: v.split(":")[0] for v in wallet.get("volumes", [])}
    assert key_dir in mounts, "the key directory is not a volume: the key would be lost"
    assert mounts[key_dir] in (compose.get("volumes") or {})
    # The image makes that directory for the runtime user: a fresh volume is writable.
    assert key_dir in DOCKERFILE.read_text(encoding="utf-8")


def test_master_key_override_uses_a_compose_secret() -> None:
    override = _load(OVERRIDE_FILE)
    wallet = override["services"]["wallet"]
    secret = wallet["secrets"][0]
    assert _env(wallet)["GUICHET_MASTER_KEY_FILE"] == f"/run/secrets/{secret}"
    source = override["secrets"][secret]["file"]
    assert (ROOT / source).parent.resolve() == (DOCKER_DIR / "secrets").resolve()
    ignored = (DOCKER_DIR / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    assert "*" in ignored, "operator secrets would be committable"


# --- the Dockerfile ---


def test_dockerfile_bases() -> None:
    stages = _stages(DOCKERFILE)
    bases = {_resolve_args(instrs[0][1], DOCKERFILE) for instrs in stages.values()}
    external = {b for b in bases if b not in stages}
    assert external == {"python:3.11-slim-bookworm", "node:20-bookworm-slim"}
    for name in ("service", "gateway"):
        root = _stage_chain(stages, name)[-1]
        assert _resolve_args(stages[root][0][1], DOCKERFILE) == "python:3.11-slim-bookworm"


def test_images_run_with_the_process_environment_of_make_run() -> None:
    from guichet_common import config

    text = DOCKERFILE.read_text()
    for key, value in config.PROCESS_ENV.items():
        assert re.search(rf"^\s*(ENV\s+)?{key}={value}\b", text, re.M), key


def test_images_install_exactly_the_lock() -> None:
    stages = _stages(DOCKERFILE)
    for name in ("service", "gateway"):
        instrs = [i for stage in _stage_chain(stages, name) for i in stages[stage]]
        copies = [args.split() for instr, args in instrs if instr == "COPY"]
        lock_copies = [c for c in copies if c[0] == "requirements.lock"]
        assert len(lock_copies) == 1, f"{name}: requirements.lock is not copied once"
        lock_in_image = lock_copies[0][-1]
        runs = " ".join(args for instr, args in instrs if instr == "RUN")
        installs = re.findall(r"pip install ([^&;]*)", runs)
        assert installs, f"{name}: no pip install"
        for inst in installs:  # every install is the lock, nothing added by name
            args = [a for a in inst.split() if not a.startswith("--")]
            assert args == ["-r", lock_in_image], f"{name}: pip install {inst}"
        assert "libmagic1" in runs, f"{name}: python-magic needs libmagic1"


def test_make_run_installs_the_same_lock() -> None:
    """`make run` and the images share requirements.lock (once the Makefile exists)."""
    assert (ROOT / "requirements.lock").is_file()
    sources = [ROOT / "Makefile", *sorted((ROOT / "deploy" / "local").glob("*"))]
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in sources if p.is_file()}
    referenced = {p: re.findall(r"pip3?\s+install\b[^\n]*?-r\s+(\S+)", t) for p, t in texts.items()}
    referenced = {p: r for p, r in referenced.items() if r}
    if not referenced:
        pytest.skip("no Makefile / deploy/local installer installs a requirements file yet")
    for path, files in referenced.items():
        for f in files:
            name = f.strip("\"'").rsplit("/", 1)[-1]
            assert name == "requirements.lock", f"{path.name} installs {f}, not the lock"


def test_images_run_unprivileged_and_carry_no_secret() -> None:
    stages = _stages(DOCKERFILE)
    for name in ("service", "gateway"):
        users = [args for instr, args in stages[name] if instr == "USER"]
        assert users, f"{name}: no USER"
        assert users[-1].split(":")[0] not in ("root", "0"), f"{name} runs as root"
    for stage in stages.values():
        for instr, args in stage:
            if instr in ("ENV", "ARG"):
                for word in re.findall(r"([A-Za-z_]\w*)=", args) or [args.split()[0]]:
                    assert not SECRETISH.search(word), f"{instr} {args} bakes a secret"


def test_gateway_image_serves_compiled_assets_under_gunicorn() -> None:
    stages = _stages(DOCKERFILE)
    assets = stages["assets"]
    assert _resolve_args(assets[0][1], DOCKERFILE) == "node:20-bookworm-slim"
    assets_text = " ".join(args for _, args in assets)
    assert "deploy/local/build_assets.sh" in assets_text
    declared = {args.split("=")[0] for instr, args in assets if instr == "ARG"}
    assert {
        "GUICHET_CITY_NAME",
        "GUICHET_BRAND_PRIMARY",
        "GUICHET_BRAND_SECONDARY",
        "GUICHET_BRAND_FONT",
        "GUICHET_BRAND_LOGO",
    } <= declared
    gateway = stages["gateway"]
    assert any(instr == "COPY" and "--from=assets" in args and "static/dist" in args for instr, args in gateway)
    cmd = [args for instr, args in gateway if instr == "CMD"][-1]
    assert cmd.startswith('["gunicorn"')
    for part in (
        '"--worker-class", "gthread"',
        '"--threads", "48"',
        '"--workers", "2"',
        '"0.0.0.0:8000"',
        '"guichet_gateway:create_app()"',
    ):
        assert part in cmd, part


def test_compose_build_args_match_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    stages = _stages(DOCKERFILE)
    declared = {args.split("=")[0] for stage in stages.values() for instr, args in stage if instr == "ARG"}
    declared |= {args.split("=")[0] for instr, args in _dockerfile_instructions(DOCKERFILE) if instr == "ARG"}
    for name in (*SERVICES, "gateway"):
        for arg in services[name]["build"].get("args") or {}:
            assert arg in declared, f"{name}: build arg {arg} unknown to the Dockerfile"


def test_pythonpath_matches_the_layout() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    m = re.search(r"PYTHONPATH=(\S+)", text)
    assert m
    assert m.group(1).split(":") == [
        "/app/common",
        "/app/services/identity",
        "/app/services/demarches",
        "/app/services/wallet",
        "/app/services/notify",
        "/app/gateway",
    ]


def test_files_copied_into_the_images_exist_or_are_being_written() -> None:
    """Our own COPY sources exist (code trees written by others may lag behind)."""
    stages = _stages(DOCKERFILE)
    ours = []
    for stage in stages.values():
        for instr, args in stage:
            if instr == "COPY" and not args.startswith("--from"):
                src = next(a for a in args.split() if not a.startswith("--"))
                if src.startswith("deploy/docker/") or src == "requirements.lock":
                    ours.append(src)
    assert ours
    for src in ours:
        assert (ROOT / src).exists(), src


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    lines = {
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    for must in (
        ".git",
        ".venv",
        "var",
        "**/node_modules",
        ".env",
        "deploy/docker/secrets",
        "gateway/guichet_gateway/static/dist",
        "**/__pycache__",
    ):
        assert must in lines, f".dockerignore lacks {must}"
    # ...but never what the build needs.
    for needed in (
        "requirements.lock",
        "common",
        "services",
        "gateway",
        "deploy",
        "deploy/local",
        "deploy/docker",
    ):
        assert needed not in lines and f"{needed}/" not in lines, needed


# --- entry point and master key ---


def test_entrypoint_is_executable_and_execs() -> None:
    entry = DOCKER_DIR / "entrypoint.sh"
    assert entry.stat().st_mode & stat.S_IXUSR
    text = entry.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh")
    assert 'exec "$@"' in text
    if shutil.which("sh"):
        assert subprocess.run(["sh", "-n", str(entry)], check=False).returncode == 0


MAKE_SECRET = DOCKER_DIR / "make_secret.py"
needs_sh = pytest.mark.skipif(not shutil.which("sh"), reason="no POSIX sh here")


def _run_entrypoint(
    tmp_path: Path, env_extra: dict[str, str], command: tuple[str, ...] = ("sh", "-c", "echo started")
) -> subprocess.CompletedProcess:
    # The image runs /usr/local/lib/guichet/make_secret.py; use the checkout's copy.
    entry = (
        (DOCKER_DIR / "entrypoint.sh")
        .read_text(encoding="utf-8")
        .replace("MAKE_SECRET=/usr/local/lib/guichet/make_secret.py", f"MAKE_SECRET={MAKE_SECRET}")
    )
    assert str(MAKE_SECRET) in entry, "entrypoint.sh no longer names MAKE_SECRET"
    script = tmp_path / "entrypoint.sh"
    script.write_text(entry, encoding="utf-8")
    # `python` in the image is the venv's; here, this interpreter's (after any fake commands).
    path = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    env = {"PATH": path, **env_extra}
    return subprocess.run(["sh", str(script), *command], check=False, env=env, capture_output=True, text=True, timeout=60)


@needs_sh
def test_entrypoint_generates_the_master_key_once(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "master.key"
    first = _run_entrypoint(tmp_path, {"GUICHET_MASTER_KEY_FILE": str(key)})
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "started"
    text = key.read_text()
    key_id, _, encoded = text.strip().partition(":")
    assert key_id == "k1"
    assert len(base64.b64decode(encoded, validate=True)) == 32
    assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0, "key readable by others"
    second = _run_entrypoint(tmp_path, {"GUICHET_MASTER_KEY_FILE": str(key)})
    assert second.returncode == 0 and key.read_text() == text, "key replaced"
    assert [p.name for p in key.parent.iterdir()] == ["master.key"], "temp files left"


@needs_sh
def test_entrypoint_makes_the_gateway_key_before_gunicorn(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "gunicorn"
    fake.write_text('#!/bin/sh\necho "gunicorn $*"\n')
    fake.chmod(0o755)
    var = tmp_path / "var"
    result = _run_entrypoint(tmp_path, {"GUICHET_VAR_DIR": str(var)}, ("gunicorn", "app"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gunicorn app"
    secret = var / "secrets" / "gateway_secret_key"
    text = secret.read_text().strip()
    assert len(text) >= 32
    again = _run_entrypoint(tmp_path, {"GUICHET_VAR_DIR": str(var)}, ("gunicorn", "app"))
    assert again.returncode == 0 and secret.read_text().strip() == text
    # An operator-provided GUICHET_SECRET_KEY: no file.
    other = tmp_path / "other"
    given = _run_entrypoint(tmp_path, {"GUICHET_VAR_DIR": str(other), "GUICHET_SECRET_KEY": "x" * 40}, ("gunicorn",))
    assert given.returncode == 0 and not other.exists()


@needs_sh
def test_entrypoint_leaves_other_containers_alone(tmp_path: Path) -> None:
    result = _run_entrypoint(tmp_path, {"GUICHET_VAR_DIR": str(tmp_path / "var")})
    assert result.returncode == 0 and result.stdout.strip() == "started"
    assert list(tmp_path.iterdir()) == [tmp_path / "entrypoint.sh"]


@needs_sh
def test_entrypoint_fails_when_the_key_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # even root cannot create a file under a regular file
    result = _run_entrypoint(tmp_path, {"GUICHET_MASTER_KEY_FILE": str(blocker / "k")})
    assert result.returncode != 0 and "started" not in result.stdout
    assert "cannot create the master-key file" in result.stderr


@pytest.mark.parametrize("kind", ["master-key", "token"])
def test_concurrent_secret_creation_agrees(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "secret"
    procs = [subprocess.Popen([sys.executable, str(MAKE_SECRET), kind, str(target)], stderr=subprocess.DEVNULL) for _ in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    assert [p.name for p in tmp_path.iterdir()] == ["secret"], "temp files left"
    assert target.read_text().strip()


def test_make_secret_refuses_unknown_kinds(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(MAKE_SECRET), "password", str(tmp_path / "x")], check=False, capture_output=True)
    assert result.returncode == 2 and not (tmp_path / "x").exists()


def test_generated_key_is_what_the_wallet_reads(tmp_path: Path) -> None:
    crypto = pytest.importorskip("guichet_wallet.crypto")
    key = tmp_path / "master.key"
    subprocess.run([sys.executable, str(MAKE_SECRET), "master-key", str(key)], check=True, capture_output=True)
    # The path the wallet takes: guichet_common.config.read_secret, then the keyring.
    from guichet_common.config import read_secret

    secret = read_secret({"GUICHET_MASTER_KEY_FILE": str(key)}, "MASTER_KEY")
    assert secret is not None
    crypto.MasterKeyring.from_secret(secret)


# --- docker compose itself (needs only the CLI plugin, not the engine) ---


def _compose_plugin() -> str | None:
    """Why `docker compose` cannot run here, or None when it can."""
    if not shutil.which("docker"):
        return "the docker CLI is not installed"
    try:
        out = subprocess.run(
            ["docker", "compose", "version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed: {exc}"
    if out.returncode != 0:
        return (
            f"the docker compose plugin is not installed (`docker compose version`: {(out.stderr or out.stdout).strip()[:200]})"
        )
    return None


@pytest.mark.parametrize(
    "files",
    [
        ["docker-compose.yml"],
        ["docker-compose.yml", "deploy/docker/compose.master-key.yml"],
    ],
    ids=["base", "with-master-key-secret"],
)
def test_docker_compose_config_accepts_the_file(files: list[str], tmp_path: Path) -> None:
    reason = _compose_plugin()
    if reason:
        pytest.skip(reason)
    args = ["docker", "compose", "--project-directory", str(ROOT)]
    for f in files:
        args += ["-f", str(ROOT / f)]
    env = dict(os.environ)
    if len(files) > 1 and not (DOCKER_DIR / "secrets" / "master.key").exists():
        # config validates that a secret's file exists: point it at a throwaway one.
        fake = tmp_path / "override.yml"
        override = _load(ROOT / files[1])
        key = tmp_path / "master.key"
        key.write_text("x\n")
        for secret in override["secrets"].values():
            secret["file"] = str(key)
        fake.write_text(yaml.safe_dump(override))
        args[-1] = str(fake)
    result = subprocess.run(
        [*args, "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
