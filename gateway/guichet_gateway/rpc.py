"""A bounded pool of started Nameko RPC proxies for a threaded (not monkey-patched) app.

One shared proxy corrupts frames under threads and a proxy per request is slow and
leaves a reply queue behind each time, so each thread borrows a started proxy for one
call. Proxies are created lazily after the worker forks; one that timed out or lost its
socket is dropped (its reply queue may hold a late answer), one that relayed a
service-raised error is kept.
"""
from __future__ import annotations

import copy
import logging
import os
import queue
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
# kombu tries `import librabbitmq` for every Connection object it builds (one per publish)
# outside eventlet; a failed import is not remembered, so each try walked sys.path again and
# cost the gateway as much CPU per request as verifying the JWT. None makes it fail at once.
sys.modules.setdefault("librabbitmq", None)  # type: ignore[arg-type]

from guichet_common.config import RPC_SERIALIZATION  # noqa: E402
from guichet_common.rpc import ClusterRpcProxy  # noqa: E402
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService  # noqa: E402

log = logging.getLogger(__name__)


class RpcPool:
    def __init__(self, config: dict[str, Any], size: int = 8, timeout: float = 15.0) -> None:
        # MessagePack (file bytes travel as bytes), JSON replies still accepted.
        self.config = {"AMQP_URI": config["AMQP_URI"], **copy.deepcopy(RPC_SERIALIZATION)}
        self.size = size
        self.timeout = timeout
        self._pid = -1
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._idle: queue.LifoQueue[tuple[ClusterRpcProxy, Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.size)

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._reset()  # proxies of the parent process are not ours to use

    @contextmanager
    def proxy(self, timeout: float | None = None) -> Iterator[Any]:
        self._check_fork()
        if not self._slots.acquire(timeout=self.timeout):
            raise RpcTimeout("no free RPC proxy")
        entry = None
        try:
            try:
                entry = self._idle.get_nowait()
            except queue.Empty:
                holder = ClusterRpcProxy(self.config, timeout=timeout or self.timeout)
                entry = (holder, holder.start())
            keep = True
            try:
                yield entry[1]
            except (RemoteError, UnknownService):
                raise
            except Exception:
                keep = False
                raise
            finally:
                if keep:
                    self._idle.put(entry)
                else:
                    self._discard(entry)
        finally:
            self._slots.release()

    @staticmethod
    def _discard(entry: tuple[Any, Any]) -> None:
        try:
            entry[0].stop()
        except Exception:  # a broken connection may fail to close; it is gone anyway
            log.debug("closing a dropped RPC proxy failed", exc_info=True)

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.proxy() as rpc:
            return getattr(getattr(rpc, service), method)(*args, **kwargs)

    def close(self) -> None:
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return


TRANSIENT = (RpcTimeout, socket.error, OSError, ConnectionError)
