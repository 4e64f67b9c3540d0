"""Server-sent events: new notifications reach an open page without reload.

One consumer thread per gateway process (started lazily, after gunicorn forks) holds one
exclusive auto-delete queue bound to notify's `notify.events` topic exchange with the
routing key `notification_created`, and fans each event out in-process to the open
streams of that account. Each stream has a bounded queue: a stalled browser cannot make
the process grow; when its queue is full the stream is told to resynchronise instead.

Threads: gunicorn runs gthread workers, so every open stream holds one thread of its
worker for as long as it lasts. Streams are therefore capped per process
(GUICHET_SSE_MAX_STREAMS, default 32 of the 48 threads the deployment gives each
worker, so ordinary requests always find a thread); beyond the cap the stream answers
503 and the page's script retries later. A stream also ends after GUICHET_SSE_MAX_AGE_S
(default 300 s): the browser reconnects, which re-checks the session and frees the thread.
An account keeps at most GUICHET_SSE_PER_ACCOUNT (default 2) streams: opening one more ends
its oldest, so pages left behind (whose thread only notices at the next heartbeat) do not
use up the cap.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, stream_with_context

from .auth import current_caller
from .pages.session import page_caller

log = logging.getLogger(__name__)
bp = Blueprint("live", __name__)

EXCHANGE = "notify.events"
ROUTING_KEY = "notification_created"
HEARTBEAT_S = 15.0


class Listener:
    def __init__(self, account_id: str, size: int) -> None:
        self.account_id = account_id
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=size)
        self.overflowed = False
        self.closed = False
        self.opened = time.monotonic()

    def close(self) -> None:
        """Ask the stream to end now (its thread may be waiting on the queue)."""
        self.closed = True
        try:
            self.queue.put_nowait({})
        except queue.Full:  # it will see `closed` on its next item
            pass


class LiveHub:
    """The per-process fan-out from the broker to the open streams."""

    def __init__(self, amqp_uri: str, max_streams: int = 4, queue_size: int = 50, per_account: int = 2) -> None:
        self.amqp_uri = amqp_uri
        self.max_streams = max_streams
        self.per_account = per_account
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Listener]] = {}
        self._count = 0
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.ready = threading.Event()  # set while bound to the exchange (tests wait on it)

    # --- listeners ------------------------------------------------------------
    def subscribe(self, account_id: str) -> Listener | None:
        self.ensure_started()
        with self._lock:
            # A page left for another one keeps its stream (and its thread) until the next
            # write fails, up to a heartbeat later: the account's oldest streams make room.
            mine = sorted(self._listeners.get(account_id, ()), key=lambda item: item.opened)
            for old in mine[:max(0, len(mine) - self.per_account + 1)]:
                old.close()
                self._listeners[account_id].discard(old)
                self._count -= 1
            if self._count >= self.max_streams:
                return None
            listener = Listener(account_id, self.queue_size)
            self._listeners.setdefault(account_id, set()).add(listener)
            self._count += 1
            return listener

    def unsubscribe(self, listener: Listener) -> None:
        listener.closed = True
        with self._lock:
            group = self._listeners.get(listener.account_id)
            if group and listener in group:
                group.discard(listener)
                self._count -= 1
                if not group:
                    del self._listeners[listener.account_id]

    def publish_local(self, payload: dict[str, Any]) -> int:
        """Hand one notification to the streams of its account; returns how many got it."""
        account_id = payload.get("account_id")
        if not isinstance(account_id, str):
            return 0
        with self._lock:
            targets = list(self._listeners.get(account_id, ()))
        for listener in targets:
            try:
                listener.queue.put_nowait(payload)
            except queue.Full:
                listener.overflowed = True
        return len(targets)

    # --- the consumer thread --------------------------------------------------
    def ensure_started(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()  # a forked worker starts its own thread
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="guichet-live", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 0.5
            except Exception as exc:  # broker gone or refused: reconnect with backoff
                self.ready.clear()
                log.warning("live stream consumer lost the broker (%s); retrying in %.1fs", type(exc).__name__, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _consume(self) -> None:
        import pika

        params = pika.URLParameters(self.amqp_uri)
        params.heartbeat = 30
        params.blocked_connection_timeout = 30
        params.client_properties = {"connection_name": f"guichet-live-{os.getpid()}"}  # visible to operators
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            # Same arguments as Nameko's own declaration of the exchange.
            channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
            result = channel.queue_declare("", exclusive=True, auto_delete=True)
            channel.queue_bind(result.method.queue, EXCHANGE, routing_key=ROUTING_KEY)
            self.ready.set()
            for _method, _props, body in channel.consume(result.method.queue, auto_ack=True,
                                                          inactivity_timeout=1.0):
                if self._stop.is_set():
                    break
                if body is None:  # inactivity tick: lets us notice stop()
                    continue
                try:
                    payload = json.loads(body)
                except ValueError:
                    continue
                if isinstance(payload, dict):
                    self.publish_local(payload)
        finally:
            self.ready.clear()
            try:
                connection.close()
            except Exception:  # already broken
                log.debug("closing the live connection failed", exc_info=True)


def hub() -> LiveHub:
    return current_app.extensions["guichet_live"]  # type: ignore[no-any-return]


def _event(payload: dict[str, Any]) -> str:
    public = {k: payload.get(k) for k in ("id", "title", "body", "link", "demande_id", "read", "kind", "created_at")}
    return "event: notification\ndata: " + json.dumps(public, ensure_ascii=False) + "\n\n"


@bp.get("/notifications/stream")
def stream() -> Response:
    # API clients send the bearer; pages rely on the session cookie (refreshed if needed).
    caller = current_caller() or page_caller()
    if caller is None:
        return Response("Authentification requise.\n", status=401, mimetype="text/plain")
    listener = hub().subscribe(caller.id)
    if listener is None:
        return Response("Trop de connexions en direct, réessayez plus tard.\n", status=503, mimetype="text/plain",
                        headers={"Retry-After": "30"})
    max_age = float(current_app.config.get("SSE_MAX_AGE_S", 300))
    heartbeat = float(current_app.config.get("SSE_HEARTBEAT_S", HEARTBEAT_S))
    the_hub = hub()

    def events() -> Iterator[str]:
        try:
            yield "retry: 5000\n: connecté\n\n"
            ends = time.monotonic() + max_age
            while time.monotonic() < ends:
                try:
                    payload = listener.queue.get(timeout=heartbeat)
                except queue.Empty:
                    yield ": ping\n\n"  # keeps proxies from closing an idle connection
                    continue
                if listener.closed:  # replaced by a newer stream of the same account
                    return
                if listener.overflowed:  # some were dropped: the page reloads its list instead
                    listener.overflowed = False
                    yield "event: resync\ndata: {}\n\n"
                    continue
                yield _event(payload)
        finally:
            the_hub.unsubscribe(listener)

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def init_live(app: Flask) -> None:
    # pika logs every failed connection attempt at ERROR; the consumer logs one warning per retry.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    app.extensions["guichet_live"] = LiveHub(
        app.config["AMQP_URI"], max_streams=int(os.environ.get("GUICHET_SSE_MAX_STREAMS", "32")),
        per_account=int(os.environ.get("GUICHET_SSE_PER_ACCOUNT", "2")))
    app.register_blueprint(bp)
