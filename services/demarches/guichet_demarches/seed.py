"""First-start data: the catalogue of démarches from catalogue/*.yaml (idempotent)."""
from __future__ import annotations

from typing import Any

from guichet_common.db import make_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import catalogue


def run(config: dict[str, Any]) -> None:
    engine = make_engine(config["DB_URL"])
    try:
        with Session(engine) as session:
            try:
                catalogue.ensure_seeded(session)
                session.commit()
            except IntegrityError:  # another replica seeded at the same moment
                session.rollback()
    finally:
        engine.dispose()
