"""Database plumbing shared by the services: engine, unit of work with a transactional
outbox, processed-event records for idempotent handlers, and Alembic migrations.

Why commit inside the entrypoint rather than in `worker_result`: Nameko sends the RPC
reply before `worker_result` runs, and a state change must be durable before it is
acknowledged. So service code calls `uow.commit()`; `worker_result` only rolls back and
closes whatever is left.

Why an outbox: an event must not be lost if the process dies between the commit and
the publish. Events are written in the same transaction as the change, published once
the worker has answered (UnitOfWork.defer_publish), and a timer re-publishes any row left
unsent (at-least-once; handlers are idempotent on `event_id`).
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, overload

from sqlalchemy import JSON, DateTime, String, create_engine, delete, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: None) -> None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    """A stored datetime as an aware UTC one: SQLite gives back naive datetimes, and
    everything is stored in UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class OutboxMixin:
    __tablename__ = "outbox"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ProcessedEventMixin:
    """One row per (event, handler) already handled: makes redelivery harmless."""
    __tablename__ = "processed_event"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handler: Mapped[str] = mapped_column(String(80), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _green_psycopg() -> None:
    """Under eventlet, make psycopg wait through the patched select().

    Why: psycopg 3 picks its C wait function unless it detects gevent; under eventlet
    that function blocks the whole process while a query runs, so one worker waiting on
    the database (or on a row lock held by another worker of the same process) stalls
    every other worker. Checked: 4 concurrent pg_sleep(0.5) took 2.0 s, 0.5 s after this.
    """
    try:
        from eventlet import patcher
    except ImportError:  # pragma: no cover - not a Nameko process
        return
    if not patcher.is_monkey_patched("select"):
        return
    import psycopg.waiting as waiting

    waiting.wait = waiting.wait_select  # type: ignore[assignment]


def make_engine(url: str, **kw: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers and one writer work at once across processes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        _green_psycopg()
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 10)
    engine = create_engine(url, **kw)
    if not kw.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


# A pooled connection unused for longer than this is checked before use.
IDLE_PING_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle (pool_pre_ping does it on
    every checkout: one more round trip for every worker of every service, about a tenth of
    a submission's database time). A connection in steady use is known alive; one that
    idled (a database restart, a firewall) is tested and replaced if dead."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            dbapi_conn.rollback()
        except Exception as exc:  # the pool drops it and checks out another
            raise DisconnectionError() from exc


# The outbox timer (each service: @timer(interval=OUTBOX_FLUSH_S) -> uow.flush_outbox())
# deletes the rows published since its last run, in one statement, and publishes rows
# older than OUTBOX_RETRY_AFTER that nobody published (process died, broker refused).
OUTBOX_FLUSH_S = 5
OUTBOX_RETRY_AFTER = timedelta(seconds=30)


class Published:
    """Ids of this process's outbox rows already published and not yet deleted.

    Why: deleting each worker's rows right after publishing cost every change a second
    commit; the timer deletes them in batches instead. If the process dies first, the rows
    are published again after OUTBOX_RETRY_AFTER (at-least-once, handlers are idempotent).
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.update(ids)

    def take(self, limit: int = 1000) -> list[str]:
        with self._lock:
            out = [self._ids.pop() for _ in range(min(limit, len(self._ids)))]
        return out

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class UnitOfWork:
    """A session plus the events to publish once the change is committed.

    With ``defer_publish`` (the services' Store), committed events are published by
    ``publish_committed()`` once the worker has answered: the outbox row already makes
    the event durable, so the caller does not wait for the broker's confirm nor for the
    outbox clean-up commit (a submission answers in one commit instead of two plus a
    confirm)."""

    def __init__(self, session: Session, outbox_model: type | None,
                 publish: Callable[[str, dict[str, Any]], None] | None, defer_publish: bool = False,
                 published: Published | None = None,
                 publish_hint: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.session = session
        self._outbox_model = outbox_model
        self._publish = publish
        self._publish_hint = publish_hint
        self._defer = defer_publish
        self._published = published  # None: delete each row as soon as it is published
        # (outbox row id, or None for a hint; event type; payload)
        self._pending: list[tuple[str | None, str, dict[str, Any]]] = []  # not committed yet
        self._committed: list[tuple[str | None, str, dict[str, Any]]] = []  # committed, not published yet

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        if self._outbox_model is None:
            raise RuntimeError("this service has no outbox table")
        self.session.add(self._outbox_model(id=payload["event_id"], event_type=event_type, payload=payload))
        self._pending.append((payload["event_id"], event_type, payload))

    def hint(self, event_type: str, payload: dict[str, Any]) -> None:
        """A notice for whoever listens right now (an open page), sent once the change is
        committed: no outbox row, not persisted by the broker, lost if nobody listens or the
        broker is away. For facts other services must not miss, use emit()."""
        self._pending.append((None, event_type, payload))

    def commit(self) -> None:
        self.session.commit()
        self._committed += self._pending
        self._pending = []
        if not self._defer:
            self.publish_committed()

    def publish_committed(self) -> None:
        """Publish the committed events, then drop their outbox rows (what fails to go out
        stays there for the timer: flush_outbox); hints go out best effort."""
        rows, self._committed = self._committed, []
        sent = []
        for event_id, event_type, payload in rows:
            if event_id is None:
                self._try_hint(event_type, payload)
            elif self._try_publish(event_type, payload):
                sent.append(event_id)
        if sent and self._published is not None:
            self._published.add(sent)  # deleted by the next flush_outbox
        elif sent:
            self._delete(sent)

    def _delete(self, ids: list[str]) -> None:
        model: Any = self._outbox_model
        self.session.execute(delete(model).where(model.id.in_(ids)))
        self.session.commit()

    def rollback(self) -> None:
        self._pending = []
        self.session.rollback()

    def first_time(self, processed_model: type, event_id: str, handler: str) -> bool:
        """Record that this handler saw this event; False if it already had."""
        try:
            with self.session.begin_nested():
                self.session.add(processed_model(event_id=event_id, handler=handler))
        except IntegrityError:
            return False
        return True

    def _try_publish(self, event_type: str, payload: dict[str, Any]) -> bool:
        if self._publish is None:
            return False
        try:
            self._publish(event_type, payload)
            return True
        except Exception:  # the timer will retry from the outbox
            log.warning("publish of %s failed; left in outbox", event_type, exc_info=True)
            return False

    def _try_hint(self, event_type: str, payload: dict[str, Any]) -> None:
        try:
            if self._publish_hint is not None:
                self._publish_hint(event_type, payload)
        except Exception:  # a notice, not a fact: the page shows it on its next load
            log.info("hint %s not published", event_type, exc_info=True)

    def drop_published(self) -> None:
        """Delete the outbox rows this process published since the last call."""
        if self._published is None:
            return
        while ids := self._published.take():
            try:
                self._delete(ids)
            except Exception:
                self.session.rollback()
                self._published.add(ids)  # next time
                raise

    def flush_outbox(self, older_than: timedelta = OUTBOX_RETRY_AFTER, limit: int = 200) -> int:
        """Delete the rows this process published since the last run, then publish outbox
        rows left behind by a crash or a broker hiccup. Returns how many it published."""
        if self._outbox_model is None:
            return 0
        model: Any = self._outbox_model
        self.drop_published()
        cutoff = utcnow() - older_than
        rows: list[Any] = self.session.execute(  # type: ignore[assignment]
            select(model).where(model.created_at < cutoff).order_by(model.created_at).limit(limit)
        ).scalars().all()
        done = 0
        for row in rows:
            if self._published is not None and row.id in self._published:
                continue  # published meanwhile by a worker of this process
            if self._try_publish(row.event_type, row.payload):
                self.session.delete(row)
                done += 1
        self.session.commit()
        return done


try:  # Nameko is absent from plain domain tests; the provider needs it.
    from kombu.entity import TRANSIENT_DELIVERY_MODE
    from nameko.events import EventDispatcher

    class Store(EventDispatcher):
        """DependencyProvider: a UnitOfWork per worker, events through the outbox.

        It is an EventDispatcher so events go to `<service>.events` like Nameko's own.
        """

        def __init__(self, outbox_model: type | None = None, **options: Any) -> None:
            # Events in JSON even though the service's RPC is MessagePack (config.py): the
            # gateway's live stream (pika) and other plain consumers decode JSON.
            from .config import EVENT_SERIALIZER

            options.setdefault("serializer", EVENT_SERIALIZER)
            super().__init__(**options)
            self.outbox_model = outbox_model
            self.published = Published()
            self.engine: Engine | None = None
            self.uows: weakref.WeakKeyDictionary[Any, UnitOfWork] = weakref.WeakKeyDictionary()

        def setup(self) -> None:
            super().setup()
            self.engine = make_engine(self.container.config["DB_URL"])

        def stop(self) -> None:
            if self.engine is not None:
                if self.outbox_model is not None and len(self.published):
                    # what was published since the last timer run: not again after a restart
                    uow = UnitOfWork(Session(self.engine), self.outbox_model, None, published=self.published)
                    try:
                        uow.drop_published()
                    except Exception:  # they will be published once more: harmless
                        log.warning("could not drop published outbox rows at stop", exc_info=True)
                    finally:
                        uow.session.close()
                self.engine.dispose()
            super().stop()

        def get_dependency(self, worker_ctx: Any) -> UnitOfWork:
            dispatch = super().get_dependency(worker_ctx)
            headers = self.get_message_headers(worker_ctx)

            def hint(event_type: str, payload: dict[str, Any]) -> None:
                # Same exchange and routing as an event, but transient: the only consumers
                # are exclusive queues of open pages, which nothing would ever replay.
                self.publisher.publish(payload, exchange=self.exchange, routing_key=event_type,
                                       extra_headers=headers, delivery_mode=TRANSIENT_DELIVERY_MODE)

            uow = UnitOfWork(Session(self.engine, expire_on_commit=False), self.outbox_model, dispatch,
                             defer_publish=True, published=self.published, publish_hint=hint)
            self.uows[worker_ctx] = uow
            return uow

        def worker_teardown(self, worker_ctx: Any) -> None:
            # Runs after the RPC reply or the event's ack (nameko: handle_result first).
            uow = self.uows.pop(worker_ctx, None)
            if uow is not None:
                try:
                    uow.session.rollback()  # whatever the worker left uncommitted
                    uow.publish_committed()
                except Exception:  # the rows stay in the outbox; the timer publishes them
                    log.warning("publishing committed events failed; left in outbox", exc_info=True)
                finally:
                    uow.session.close()
except ImportError:  # pragma: no cover
    pass


# --- migrations -----------------------------------------------------------------


def migrate(service: str, url: str) -> None:
    """Bring the service's database to the newest Alembic revision.

    On PostgreSQL an advisory lock serialises scaled replicas starting together.
    """
    import importlib

    from alembic import command
    from alembic.config import Config

    pkg = importlib.import_module(f"guichet_{service}")
    script_location = str(Path(pkg.__file__).parent / "migrations")  # type: ignore[arg-type]
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": "migrate-" + service})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": "migrate-" + service})
        conn.commit()
    engine.dispose()


def run_migrations(target_metadata: Any) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    conn = context.config.attributes.get("connection")
    if conn is None:
        engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()

