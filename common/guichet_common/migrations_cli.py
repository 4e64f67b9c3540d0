"""`python -m guichet_common.migrations_cli <service> revision -m "message"`: autogenerate
a migration for one service against a scratch SQLite database brought to head first."""
from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import migrate


def main(argv: list[str]) -> int:
    service, _, message = argv[0], argv[1], argv[3]
    pkg = importlib.import_module(f"guichet_{service}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        migrate(service, url)
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(pkg.__file__).parent / "migrations"))  # type: ignore[arg-type]
        cfg.set_main_option("sqlalchemy.url", url)
        command.revision(cfg, message=message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
