"""Pooled PostgreSQL connections: checked before use only after sitting idle, and a dead
one is replaced instead of failing the request."""
from __future__ import annotations

from typing import Any

import psycopg
import pytest
from guichet_common import db
from guichet_common.testing.env import PG_ADMIN
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

LIBPQ = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg() -> Any:
    try:
        psycopg.connect(LIBPQ, connect_timeout=3).close()
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL answers at " + LIBPQ)
    engine = db.make_engine(PG_ADMIN, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def kill(pid: int) -> None:
    with psycopg.connect(LIBPQ, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_killed_while_idle_is_replaced(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every checkout counts as after an idle time
    first = backend_pid(pg)
    kill(first)
    second = backend_pid(pg)  # no error: the ping saw it dead and the pool opened another
    assert second != first


def test_a_connection_in_steady_use_is_not_pinged(pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)  # never idle long enough
    kill(backend_pid(pg))
    with pytest.raises(DBAPIError):  # not checked before use: the dead connection was handed out
        backend_pid(pg)
    backend_pid(pg)  # SQLAlchemy dropped it on the error; the next use gets a fresh one
