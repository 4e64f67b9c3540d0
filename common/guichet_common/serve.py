"""Start one service: `python -m guichet_common.serve <service> [--check] [--no-migrate]`.

Runs the service's migrations and seed, then its Nameko service class with the config
built from the environment. `--check` asks the running service for its health over RPC
(exit 0 when it answers), for container health checks.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 — must precede every other import (Nameko needs it)

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging.config  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")

from .config import SERVICES, service_config  # noqa: E402


def service_class(service: str) -> type:
    module = importlib.import_module(f"guichet_{service}.service")
    return getattr(module, f"{service.capitalize()}Service")


def prepare(service: str, config: dict) -> None:
    """Migrations, then the service's seed (idempotent) if it has one."""
    from .db import migrate

    migrate(service, config["DB_URL"])
    try:
        seed = importlib.import_module(f"guichet_{service}.seed")
    except ModuleNotFoundError:
        return
    seed.run(config)


def check(config: dict, service: str) -> int:
    from guichet_common.rpc import ClusterRpcProxy

    try:
        with ClusterRpcProxy(config, timeout=5) as rpc:
            getattr(rpc, service).health()
    except Exception as exc:  # any failure means unhealthy
        print(f"{service}: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guichet_common.serve")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args(argv)
    config = service_config(args.service)
    if args.check:
        return check(config, args.service)
    logging.config.dictConfig(config["LOGGING"])
    if not args.no_migrate:
        prepare(args.service, config)
    from nameko.cli.run import run

    run([service_class(args.service)], config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
