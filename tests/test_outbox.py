"""The transactional outbox (guichet_common.db): an event is in the database when the
change is acknowledged, goes out once the worker has answered, is never published if its
change was not committed, and what the broker refused goes out later from the outbox."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from guichet_common.db import OutboxMixin, Store, UnitOfWork, make_engine
from guichet_common.rpc import ClusterRpcProxy, rpc
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMixin, Base):
    pass


SEEN: list[str] = []


class OutboxProbe:
    name = "outbox_probe"
    uow: UnitOfWork = Store(Outbox)

    @rpc
    def change(self, event_id: str, then: str = "") -> int:
        self.uow.emit("probe_happened", {"event_id": event_id})
        if then == "rollback":
            self.uow.rollback()
            return -1
        if then == "no-commit":
            return -1
        self.uow.commit()
        if then == "fail":
            raise ValueError("after the commit")
        # what the outbox holds when the caller gets its answer
        return int(self.uow.session.scalar(select(func.count()).select_from(Outbox)) or 0)

    @rpc
    def notice(self, event_id: str, then: str = "") -> int:
        self.uow.hint("probe_noticed", {"event_id": event_id})
        if then == "rollback":
            self.uow.rollback()
            return -1
        self.uow.commit()
        return int(self.uow.session.scalar(select(func.count()).select_from(Outbox)) or 0)

    @rpc
    def flush(self) -> int:  # what the services' outbox timer runs
        return self.uow.flush_outbox()


class Listener:
    name = "outbox_listener"

    @event_handler("outbox_probe", "probe_happened")
    def got(self, payload: dict[str, Any]) -> None:
        SEEN.append(payload["event_id"])


def wait_seen(event_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while event_id not in SEEN:
        assert time.monotonic() < deadline, f"{event_id} never published"
        time.sleep(0.02)


@pytest.fixture
def probe(container_factory: Any, test_env: Any, tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path}/probe.db"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    cfg = {**test_env.service_config("wallet"), "DB_URL": url}
    for cls in (Listener, OutboxProbe):
        container_factory(cls, cfg).start()
    SEEN.clear()
    with ClusterRpcProxy(cfg, timeout=15) as proxy:
        yield proxy.outbox_probe, engine
    engine.dispose()


def outbox_rows(engine: Any) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Outbox)) or 0)


def test_event_is_stored_before_the_answer_published_after_and_dropped_by_the_timer(probe: Any) -> None:
    service, engine = probe
    assert service.change("e1") == 1  # durable in the outbox when acknowledged
    assert service.change("e2") == 2
    wait_seen("e1")
    wait_seen("e2")
    assert outbox_rows(engine) == 2  # published rows wait for the timer: no second commit per change
    assert service.flush() == 0  # deleted in one go, not published again
    assert outbox_rows(engine) == 0
    service.change("e3")
    wait_seen("e3")
    assert SEEN.count("e1") == 1 and SEEN.count("e2") == 1


def test_uncommitted_events_never_go_out_committed_ones_always_do(probe: Any) -> None:
    service, engine = probe
    service.change("rolled-back", "rollback")
    service.change("left-open", "no-commit")
    with pytest.raises(RemoteError):
        service.change("failed-after-commit", "fail")
    wait_seen("failed-after-commit")  # committed: a fact, even if the worker then failed
    service.change("last")
    wait_seen("last")  # published after the two others would have been
    assert "rolled-back" not in SEEN and "left-open" not in SEEN


def test_what_the_broker_refused_goes_out_from_the_outbox(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/unit.db")
    Base.metadata.create_all(engine)
    published: list[str] = []

    def broker_down(event_type: str, payload: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    uow = UnitOfWork(Session(engine, expire_on_commit=False), Outbox, broker_down)
    event_id = uuid.uuid4().hex
    uow.emit("probe_happened", {"event_id": event_id})
    uow.commit()
    assert outbox_rows(engine) == 1
    timer = UnitOfWork(Session(engine, expire_on_commit=False), Outbox,
                       lambda event_type, payload: published.append(payload["event_id"]))
    assert timer.flush_outbox(older_than=timedelta(0)) == 1
    assert published == [event_id] and outbox_rows(engine) == 0


def test_a_hint_goes_out_transient_after_the_commit_and_never_touches_the_outbox(probe: Any,
                                                                                    test_env: Any) -> None:
    """What only open pages listen to (notify's live stream) is not an outboxed fact: sent once
    committed, transient, nothing stored; a rolled back change sends nothing."""
    import kombu
    from nameko.standalone.events import get_event_exchange

    service, engine = probe
    with kombu.Connection(test_env.amqp_uri) as conn:
        spy = kombu.Queue(f"spy-{uuid.uuid4().hex}", get_event_exchange("outbox_probe", {}),
                          routing_key="probe_noticed", auto_delete=True, durable=False)
        spy(conn.default_channel).declare()
        assert service.notice("h-rolled-back", "rollback") == -1
        assert service.notice("h1") == 0  # no outbox row for a hint
        seen: list[tuple[str, Any]] = []
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            while (msg := spy(conn.default_channel).get(no_ack=True)) is not None:
                seen.append((msg.payload["event_id"], msg.properties.get("delivery_mode")))
            time.sleep(0.02)
    assert seen == [("h1", 1)]
    assert outbox_rows(engine) == 0
