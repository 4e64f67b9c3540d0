"""The object store (S3 through the `minio` client) and its DependencyProvider.

Only ciphertext ever reaches it (crypto.py). Object keys are built from ids only, never
from a file name: ``<owner id>/<object id>/<part index>``, so one prefix holds an
object's parts and another all of an owner's objects (deletion, crypto-shredding).

Rows and objects stay in step through the row's status (models.py): the row is written
first as ``pending``, the objects next, then the row becomes ``active``; deletion marks
``deleting``, removes the objects, then the row. A crash between two steps leaves a
hidden row that the janitor timer finishes (deletes the prefix then the row), so there
is never a visible row without its object nor an object no row points to.

Any failure to reach the store becomes ``StoreUnavailable`` (HTTP 503 + Retry-After).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from .exceptions import StoreUnavailable

log = logging.getLogger(__name__)
READ_CHUNK = 256 * 1024
MULTIPART_SIZE = 16 * 1024 * 1024
# Parts of one object moved at once: one S3 PUT costs about 9 ms per MiB here whatever the
# client does, and two run side by side take 12 ms instead of 19 (bench/wallet_throughput.py).
PARTS_IN_FLIGHT = 4
T = TypeVar("T")


def each_in_turn(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    return [fn(item) for item in items]


class ObjectMissing(StoreUnavailable):
    """A row points to an object the store does not have: an integrity failure."""


def object_key(owner_id: str, object_id: str, index: int) -> str:
    return f"{owner_id}/{object_id}/{index:06d}"


def object_prefix(owner_id: str, object_id: str | None = None) -> str:
    return f"{owner_id}/" if object_id is None else f"{owner_id}/{object_id}/"


class ObjectStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool = False,
                 region: str = "us-east-1") -> None:
        # Few, quick retries: a store that is down must become a 503 within seconds.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3, read=60), maxsize=16,
            retries=urllib3.Retry(total=2, connect=2, read=1, backoff_factor=0.2,
                                  status_forcelist=[500, 502, 503, 504]))
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                            region=region, http_client=http)
        self.bucket = bucket
        self._ready = False
        # How the parts of one object are moved (see ``each``): one after the other unless
        # the service gives a concurrent runner (S3Store, under eventlet).
        self.runner: Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]] = each_in_turn

    def each(self, fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        """``[fn(item) for item in items]``, possibly concurrently; returns only once every
        call has ended (so a failure never leaves a part still being written behind the
        caller's clean-up), then raises the first error if any."""
        return self.runner(fn, items)

    @classmethod
    def from_config(cls, s3: dict[str, Any]) -> ObjectStore:
        return cls(s3["endpoint"], s3["access_key"], s3["secret_key"], s3["bucket"], bool(s3.get("secure")))

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                log.error("object store: %s: missing object", what)
                raise ObjectMissing() from None
            log.warning("object store: %s failed: %s", what, exc.code)
            raise StoreUnavailable() from None
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("object store: %s failed: %s", what, type(exc).__name__)
            raise StoreUnavailable() from None

    def ensure_bucket(self) -> None:
        if self._ready:
            return
        with self._guard("bucket"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:  # another replica made it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._ready = True

    def put(self, key: str, data: BinaryIO, length: int) -> None:
        self.ensure_bucket()
        with self._guard("put"):
            self.client.put_object(self.bucket, key, data, length=length, part_size=MULTIPART_SIZE,
                                   content_type="application/octet-stream")

    def get(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks (a generator: errors surface while iterating)."""
        self.ensure_bucket()
        with self._guard("get"):
            resp = self.client.get_object(self.bucket, key)
            try:
                yield from resp.stream(READ_CHUNK)
            finally:
                resp.close()
                resp.release_conn()

    def read(self, key: str) -> bytes:
        return b"".join(self.get(key))

    def list(self, prefix: str = "") -> list[str]:
        self.ensure_bucket()
        with self._guard("list"):
            return [o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                    if o.object_name]

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; the count deleted."""
        names = self.list(prefix)
        if not names:
            return 0
        with self._guard("delete"):
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(n) for n in names)))
        if errors:
            log.warning("object store: %d objects not deleted under a prefix", len(errors))
            raise StoreUnavailable()
        return len(names)


try:
    import eventlet
    from nameko.extensions import DependencyProvider

    def each_green(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        pool = eventlet.GreenPool(PARTS_IN_FLIGHT)
        threads = [pool.spawn(fn, item) for item in items]
        results: list[T] = []
        error: BaseException | None = None
        for thread in threads:  # wait for all, even after a failure
            try:
                results.append(thread.wait())
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error
        return results

    class S3Store(DependencyProvider):
        """`self.store`: the ObjectStore built from config["S3"]; bucket made if missing."""

        def setup(self) -> None:
            self.store = ObjectStore.from_config(self.container.config["S3"])
            self.store.runner = each_green
            try:
                self.store.ensure_bucket()
            except StoreUnavailable:  # the service still starts; each use retries
                log.warning("object store unreachable at start-up; will retry on use")

        def get_dependency(self, worker_ctx: Any) -> ObjectStore:
            return self.store
except ImportError:  # pragma: no cover
    pass
