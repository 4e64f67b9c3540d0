"""`make run`: prepare var/ (secrets, ports, vhost), write the supervisord config, and
run supervisord in the foreground. Ctrl-C stops every process it started.

Everything lives under GUICHET_VAR_DIR, so two stacks with two var dirs share one
broker (each its own vhost) without seeing each other. Ports chosen on the first run
are kept in var/stack.json and reused while they are free.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "common"))

from guichet_common import config, devstack  # noqa: E402

PYTHONPATH = ":".join(str(ROOT / p) for p in (
    "common", "services/identity", "services/demarches", "services/wallet", "services/notify", "gateway"))


def load_state(var: Path) -> dict:
    path = var / "stack.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    ports = state.get("weed_ports")
    if not ports or not all(devstack.port_free(p) and devstack.port_free(p + 10000) for p in ports.values()):
        state["weed_ports"] = devstack.weed_ports()
    smtp = state.get("smtp_port")
    if not smtp or not devstack.port_free(smtp):
        state["smtp_port"] = devstack.free_port()
    state.setdefault("s3_access_key", "guichet-" + secrets.token_hex(4))
    path.write_text(json.dumps(state, indent=2))
    return state


def secret_file(var: Path, name: str, make) -> Path:  # type: ignore[no-untyped-def]
    path = var / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.write_text(make())
        path.chmod(0o600)
    return path


def main() -> None:
    env = dict(os.environ)
    var = config.var_dir(env)
    for sub in ("db", "logs", "s3", "secrets"):
        (var / sub).mkdir(parents=True, exist_ok=True)
    mail = config.mail_dir(env)
    mail.mkdir(parents=True, exist_ok=True)
    state = load_state(var)
    s3_secret = secret_file(var, "s3_secret_key", devstack.new_secret)
    master = secret_file(var, "master_key", lambda: "k1:" + base64.b64encode(secrets.token_bytes(32)).decode())
    amqp = config.amqp_uri(env)
    devstack.ensure_vhost(amqp, devstack.stack_description(var))
    if not env.get("GUICHET_AMQP_URI"):  # our own local broker: drop idle vhosts of one-off stacks
        pruned = devstack.prune_stack_vhosts(amqp, keep=config.stack_vhost(var))
        if pruned:
            print(f"Removed {len(pruned)} idle RabbitMQ vhost(s) of other local stacks", flush=True)
    port = config.port(env)
    weed = state["weed_ports"]

    stack_env = {
        "GUICHET_VAR_DIR": str(var),
        "GUICHET_MAIL_DIR": str(mail),
        "GUICHET_PORT": str(port),
        "GUICHET_AMQP_URI": amqp,
        "GUICHET_BASE_URL": config.base_url(env),
        "GUICHET_S3_ENDPOINT": f"127.0.0.1:{weed['s3']}",
        "GUICHET_S3_ACCESS_KEY": state["s3_access_key"],
        "GUICHET_S3_SECRET_KEY_FILE": str(s3_secret),
        "GUICHET_MASTER_KEY_FILE": str(master),
        "GUICHET_SMTP_HOST": "127.0.0.1",
        "GUICHET_SMTP_PORT": str(state["smtp_port"]),
        "PYTHONPATH": PYTHONPATH,
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore",
        **config.PROCESS_ENV,
    }
    for key, value in env.items():  # operator's own settings win
        if key.startswith("GUICHET_") and key not in ("GUICHET_S3_ENDPOINT",):
            stack_env.setdefault(key, value)
    (var / "stack.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(stack_env.items())))

    py = sys.executable
    weed_cmd = devstack.weed_command(var / "s3", weed, state["s3_access_key"], s3_secret.read_text().strip())
    workers = env.get("GUICHET_GATEWAY_WORKERS", "2")
    # Each open live-notification stream holds a thread: many threads, mostly idle.
    threads = env.get("GUICHET_GATEWAY_THREADS", "48")
    programs = {
        "s3": (" ".join(shlex.quote(a) for a in weed_cmd), 10),
        "mailsink": (f"{py} -m guichet_common.mailsink --port {state['smtp_port']} --dir {shlex.quote(str(mail))}", 10),
        "identity": (f"{py} -m guichet_common.serve identity", 20),
        "demarches": (f"{py} -m guichet_common.serve demarches", 20),
        "wallet": (f"{py} -m guichet_common.serve wallet", 20),
        "notify": (f"{py} -m guichet_common.serve notify", 20),
        "gateway": (f"{Path(py).parent / 'gunicorn'} --worker-class gthread --threads {threads} --workers {workers} "
                    f"--bind 127.0.0.1:{port} --access-logfile - --graceful-timeout 5 --name guichet-gateway "
                    f"'guichet_gateway:create_app()'", 30),
    }
    envline = ",".join(f'{k}="{v}"' for k, v in stack_env.items())
    logs = var / "logs"
    conf = [
        "[supervisord]", "nodaemon=true", f"logfile={logs / 'supervisord.log'}", f"pidfile={var / 'supervisord.pid'}",
        f"childlogdir={logs}", "loglevel=info", "",
        "[unix_http_server]", f"file={var / 'supervisor.sock'}", "chmod=0700", "",
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{var / 'supervisor.sock'}", "",
    ]
    for name, (command, priority) in programs.items():
        conf += [
            f"[program:{name}]", f"command={command}", f"directory={ROOT}", f"priority={priority}",
            "autostart=true", "autorestart=true", "startsecs=1", "startretries=100", "stopasgroup=true",
            "killasgroup=true", "stopwaitsecs=10", "redirect_stderr=true",
            f"stdout_logfile={logs / (name + '.log')}", "stdout_logfile_maxbytes=20MB", "stdout_logfile_backups=2",
            f"environment={envline}", "",
        ]
    # One group for the Guichet processes: supervisord stops a group's programs together
    # (groups one after another), so Ctrl-C takes seconds, not the sum of each stop.
    conf += ["[group:guichet]", "programs=identity,demarches,wallet,notify,gateway", "priority=20", ""]
    conf_path = var / "supervisord.conf"
    conf_path.write_text("\n".join(conf))
    print(f"Guichet: http://127.0.0.1:{port}  (var: {var}, logs: {logs}, mail: {mail})", flush=True)
    os.execv(str(Path(py).parent / "supervisord"), [str(Path(py).parent / "supervisord"), "-n", "-c", str(conf_path)])


if __name__ == "__main__":
    main()
