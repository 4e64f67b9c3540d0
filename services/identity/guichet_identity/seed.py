"""First-start data: the two staff accounts (idempotent)."""
from __future__ import annotations

from typing import Any

from guichet_common.db import UnitOfWork, make_engine
from sqlalchemy.orm import Session

from . import accounts, keys


def run(config: dict[str, Any]) -> None:
    engine = make_engine(config["DB_URL"])
    with Session(engine) as session:
        uow = UnitOfWork(session, None, None)
        seed = config["SEED"]
        accounts.ensure_staff(uow, seed["agent_email"], seed["agent_password"], "Agnès", "Agent", ["agent"])
        accounts.ensure_staff(uow, seed["admin_email"], seed["admin_password"], "Adam", "Admin", ["agent", "admin"])
        keys.current_key(session)
        session.commit()
    engine.dispose()
