"""Envelope encryption for the document wallet (pure domain code, no I/O framework).

Key hierarchy
-------------
::

    master keys (MasterKeyring, from the MASTER_KEY secret; several ids, one current)
        └─ wrap ─> owner key (one per citizen, 32 random bytes, stored wrapped in the DB)
              └─ wrap ─> data key / DEK (one per stored object, stored wrapped in the DB)
                    └─ seals ─> object ciphertext (STREAM, AES-256-GCM segments, in S3)

* Rotating a master key only re-wraps the owner keys (``MasterKeyring.rewrap``): the
  objects in S3 and the wrapped DEKs are untouched.
* Destroying an owner's wrapped key makes all of that owner's DEKs, hence all of the
  owner's objects, unreadable (crypto-shredding), even in S3 copies and backups.

Object format (version 1)
-------------------------
::

    header  = version (1 byte, 0x01) || nonce prefix (7 random bytes) || segment size (u32 BE)
    segment_i = AES-256-GCM(DEK, nonce_i, plaintext_i, aad)          (len(plaintext_i) + 16)
    nonce_i = nonce prefix || i (u32 BE) || last flag (0x01 on the final segment, else 0x00)
    aad     = header || UTF-8(object id)

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as in
Tink's streaming AEAD and age: every segment is authenticated on its own so decryption
can stream with bounded memory; the counter in the nonce detects reordering and
dropping, the last flag detects truncation at a segment boundary and appending, the
header and the object id in the AAD detect header tampering and segments moved
between objects.  All segments are full except the last, which holds 0..segment_size
bytes (an empty object is one empty final segment).

Caveat for callers of ``decrypt_stream``: plaintext of segment *i* is released as soon as
segment *i* is verified, i.e. before the end of the object is known to be intact.  A
truncated object therefore raises ``IntegrityError`` *after* earlier chunks have been
yielded: a consumer must treat the whole output as invalid when the iterator raises
(an HTTP download must be aborted, not completed with a short body).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import secrets
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "MAX_SEGMENT_SIZE",
    "TAG_SIZE",
    "CryptoError",
    "EncryptingReader",
    "IntegrityError",
    "MasterKeyring",
    "UnknownKeyError",
    "ciphertext_length",
    "data_key_context",
    "decrypt_stream",
    "encrypt_stream",
    "generate_key",
    "new_data_key",
    "new_owner_key",
    "open_data_key",
    "owner_key_context",
    "plaintext_length",
    "unwrap_key",
    "wrap_key",
]

KEY_SIZE = 32  # AES-256
TAG_SIZE = 16
VERSION = 1
NONCE_PREFIX_SIZE = 7
_HEADER = struct.Struct(">B7sI")
HEADER_SIZE = _HEADER.size  # 12
DEFAULT_SEGMENT_SIZE = 64 * 1024
# Upper bound accepted when *decrypting*: the header is only authenticated together with
# the first segment, so a forged header must not make us buffer gigabytes.
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
MAX_SEGMENTS = 2**32  # the counter is 4 bytes

_WRAP_VERSION = 1
_WRAP_NONCE_SIZE = 12
_WRAP_AAD_PREFIX = b"guichet-wallet/wrap/v1\x00"
_RING_VERSION = 1
_KEY_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CryptoError(Exception):
    """Base class of the wallet crypto errors."""


class IntegrityError(CryptoError):
    """Ciphertext or wrapped key failed authentication.

    Raised for tampering, truncation, reordering, appended data, a segment or wrapped key
    moved from another object/owner, a wrong key or a wrong object id / context: these
    cases are cryptographically indistinguishable, on purpose.
    """


class UnknownKeyError(CryptoError):
    """A wrapped key names a master key id that is not in the keyring (configuration)."""


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


Source = _Readable | Iterable[bytes] | bytes | bytearray | memoryview


# --------------------------------------------------------------------------- helpers


def _check_key(key: bytes, what: str = "key") -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes")
    return bytes(key)


def _object_id_bytes(object_id: str) -> bytes:
    if not isinstance(object_id, str) or not object_id:
        raise ValueError("object_id must be a non-empty str")
    return object_id.encode("utf-8")


def _check_segment_size(segment_size: int, maximum: int = MAX_SEGMENT_SIZE) -> int:
    if not isinstance(segment_size, int) or not 1 <= segment_size <= maximum:
        raise ValueError(f"segment_size must be an int in 1..{maximum}")
    return segment_size


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class _ChunkReader:
    """Turns a ``.read(n)`` object, an iterable of byte chunks or bytes into exact reads.

    Memory held: at most one source chunk plus ``n`` bytes.
    """

    def __init__(self, src: Source) -> None:
        self._buf = bytearray()
        self._eof = False
        self._read = None
        self._iter: Iterator[bytes] | None = None
        if isinstance(src, (bytes, bytearray, memoryview)):
            self._iter = iter((bytes(src),))
        elif callable(getattr(src, "read", None)):
            self._read = src.read  # type: ignore[union-attr]
        elif isinstance(src, Iterable):
            self._iter = iter(src)
        else:
            raise TypeError("source must have .read(n), be an iterable of bytes, or bytes")

    def _more(self, wanted: int) -> bytes | None:
        if self._read is not None:
            chunk = self._read(wanted)
            return chunk if chunk else None
        assert self._iter is not None
        for chunk in self._iter:
            if chunk:  # an empty chunk from an iterator is not EOF
                return chunk
        return None

    def read_exactly(self, n: int) -> bytes:
        """Return ``n`` bytes, or fewer only at end of stream."""
        if not self._buf and not self._eof:
            # fast path: no copy when the source hands over exactly what we want
            chunk = self._more(n)
            if chunk is None:
                self._eof = True
                return b""
            if len(chunk) == n:
                return bytes(chunk)
            self._buf += chunk
        while len(self._buf) < n and not self._eof:
            chunk = self._more(n - len(self._buf))
            if chunk is None:
                self._eof = True
            else:
                self._buf += chunk
        with memoryview(self._buf) as view:
            out = bytes(view[:n])  # one copy
        del self._buf[:n]  # O(1) at the front of a bytearray
        return out


# --------------------------------------------------------------------------- STREAM


def ciphertext_length(plaintext_length: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Exact size of the object produced by ``encrypt_stream`` for a known plaintext size."""
    _check_segment_size(segment_size)
    if plaintext_length < 0:
        raise ValueError("plaintext_length must be >= 0")
    segments = max(1, math.ceil(plaintext_length / segment_size))
    return HEADER_SIZE + plaintext_length + segments * TAG_SIZE


def plaintext_length(object_length: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Inverse of ``ciphertext_length`` (e.g. for a download's Content-Length).

    Raises ``ValueError`` if no plaintext size gives this object size.
    """
    _check_segment_size(segment_size)
    body = object_length - HEADER_SIZE
    if body < TAG_SIZE:
        raise ValueError("ciphertext too short")
    segments = math.ceil(body / (segment_size + TAG_SIZE))
    length = body - segments * TAG_SIZE
    if length < 0 or ciphertext_length(length, segment_size) != object_length:
        raise ValueError("impossible ciphertext length for this segment size")
    return length


def encrypt_stream(
    dek: bytes,
    object_id: str,
    src: Source,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> Iterator[bytes]:
    """Encrypt ``src`` for ``object_id``; yields the header then one chunk per segment.

    ``src`` is anything with ``.read(n)`` (file, spooled upload, HTTP body), an iterable of
    byte chunks, or bytes.  At most two plaintext segments are held in memory (one of
    look-ahead, to know which segment is the last).  Arguments are checked eagerly.
    """
    aead = AESGCM(_check_key(dek, "dek"))
    oid = _object_id_bytes(object_id)
    _check_segment_size(segment_size)
    reader = _ChunkReader(src)
    return _encrypt(aead, oid, reader, segment_size)


def _encrypt(aead: AESGCM, oid: bytes, reader: _ChunkReader, segment_size: int) -> Iterator[bytes]:
    prefix = os.urandom(NONCE_PREFIX_SIZE)
    header = _HEADER.pack(VERSION, prefix, segment_size)
    aad = header + oid
    yield header
    current = reader.read_exactly(segment_size)
    counter = 0
    while True:
        nxt = reader.read_exactly(segment_size) if len(current) == segment_size else b""
        last = not nxt
        yield aead.encrypt(_nonce(prefix, counter, last), current, aad)
        if last:
            return
        counter += 1
        if counter >= MAX_SEGMENTS:
            raise ValueError("object too large for this segment size")
        current = nxt


def decrypt_stream(
    dek: bytes,
    object_id: str,
    chunks: Source,
    *,
    max_segment_size: int = MAX_SEGMENT_SIZE,
) -> Iterator[bytes]:
    """Decrypt an object written by ``encrypt_stream``; yields verified plaintext chunks.

    ``chunks`` is an iterable of byte chunks of any sizes (e.g. an S3 response's
    ``stream()``) or an object with ``.read(n)``.  Raises ``IntegrityError`` on any
    tampering, truncation, reordering, appended bytes, wrong key or wrong object id —
    possibly after some chunks were yielded, see the module docstring.
    """
    aead = AESGCM(_check_key(dek, "dek"))
    oid = _object_id_bytes(object_id)
    _check_segment_size(max_segment_size, 2**32 - 1)
    return _decrypt(aead, oid, _ChunkReader(chunks), max_segment_size)


def _decrypt(aead: AESGCM, oid: bytes, reader: _ChunkReader, max_segment_size: int) -> Iterator[bytes]:
    header = reader.read_exactly(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise IntegrityError("ciphertext truncated: incomplete header")
    version, prefix, segment_size = _HEADER.unpack(header)
    if version != VERSION:
        raise IntegrityError(f"unsupported or corrupted header (version {version})")
    if not 1 <= segment_size <= max_segment_size:
        raise IntegrityError("unsupported or corrupted header (segment size)")
    aad = header + oid
    sealed_size = segment_size + TAG_SIZE
    current = reader.read_exactly(sealed_size)
    counter = 0
    while True:
        nxt = reader.read_exactly(sealed_size) if len(current) == sealed_size else b""
        last = not nxt
        if len(current) < TAG_SIZE:
            raise IntegrityError(f"ciphertext truncated in segment {counter}")
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), current, aad)
        except InvalidTag:
            raise IntegrityError(
                f"segment {counter} failed authentication (tampered, truncated, "
                "reordered, appended to, or wrong key / object id)"
            ) from None
        if last and counter and not plain:
            # never produced by encrypt_stream: keep the encoding canonical
            raise IntegrityError("unexpected empty final segment")
        if plain:
            yield plain
        if last:
            return
        counter += 1
        if counter >= MAX_SEGMENTS:
            raise IntegrityError("too many segments")
        current = nxt


class EncryptingReader:
    """File-like view of ``encrypt_stream`` for APIs that pull with ``.read(n)``.

    Typical use::

        reader = EncryptingReader(dek, object_id, upload)
        minio.put_object(bucket, key, reader, length=-1, part_size=16 * 1024 * 1024)
        # or, plaintext size known: length=ciphertext_length(size)

    Memory: two plaintext segments plus the bytes requested by the caller's ``read(n)``.
    ``read()`` without a size reads everything (unbounded) and is meant for tests only.
    """

    def __init__(
        self,
        dek: bytes,
        object_id: str,
        src: Source,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> None:
        self._chunks: Iterator[bytes] | None = encrypt_stream(dek, object_id, src, segment_size)
        self._buf = bytearray()
        self.bytes_read = 0  # ciphertext bytes handed out so far

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._chunks is None and not self._buf

    def close(self) -> None:
        self._chunks = None
        self._buf.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, size: int | None = -1) -> bytes:
        unbounded = size is None or size < 0
        while self._chunks is not None and (unbounded or len(self._buf) < size):  # type: ignore[operator]
            chunk = next(self._chunks, None)
            if chunk is None:
                self._chunks = None
            else:
                self._buf += chunk
        if unbounded:
            out = bytes(self._buf)
            self._buf.clear()
        else:
            out = bytes(self._buf[:size])
            del self._buf[:size]
        self.bytes_read += len(out)
        return out


# --------------------------------------------------------------------------- key wrapping

# Key wrapping uses AES-256-GCM with a random 96-bit nonce and the context as associated
# data, rather than AES-KW (RFC 3394/5649):
# * AES-KW has no associated data, so binding a wrapped key to its owner / object would
#   need one derived KEK per context; with GCM the binding is just the AAD, and a wrapped
#   key copied to another row (another owner, another object) fails to unwrap.
# * the usual GCM objection, nonce collisions, does not bite: NIST SP 800-38D allows 2^32
#   random-nonce invocations per key, and a KEK wraps far fewer keys (a master key wraps
#   one key per citizen; an owner key one DEK per document of that citizen).
# * it is the same primitive as the data path (one audited code path, AES-NI, cryptography).
# Format: version (1 byte) || nonce (12) || AES-GCM(kek, nonce, key, aad) (len(key) + 16).


def generate_key() -> bytes:
    """A fresh random 256-bit key (owner key, DEK or master key)."""
    return secrets.token_bytes(KEY_SIZE)


def _wrap_aad(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise ValueError("context must be a non-empty str")
    return _WRAP_AAD_PREFIX + context.encode("utf-8")


def wrap_key(kek: bytes, key: bytes, context: str) -> bytes:
    """Encrypt ``key`` under ``kek``, bound to ``context`` (e.g. ``owner_key_context(id)``)."""
    aead = AESGCM(_check_key(kek, "kek"))
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ValueError("key must be non-empty bytes")
    nonce = os.urandom(_WRAP_NONCE_SIZE)
    return bytes([_WRAP_VERSION]) + nonce + aead.encrypt(nonce, bytes(key), _wrap_aad(context))


def unwrap_key(kek: bytes, wrapped: bytes, context: str) -> bytes:
    """Inverse of ``wrap_key``; ``IntegrityError`` if the kek, context or blob is wrong."""
    aead = AESGCM(_check_key(kek, "kek"))
    aad = _wrap_aad(context)
    wrapped = bytes(wrapped)
    if len(wrapped) < 1 + _WRAP_NONCE_SIZE + TAG_SIZE + 1 or wrapped[0] != _WRAP_VERSION:
        raise IntegrityError("malformed wrapped key")
    nonce = wrapped[1 : 1 + _WRAP_NONCE_SIZE]
    try:
        return aead.decrypt(nonce, wrapped[1 + _WRAP_NONCE_SIZE :], aad)
    except InvalidTag:
        raise IntegrityError("wrapped key failed authentication (wrong key or context, or tampered)") from None


class MasterKeyring:
    """Master keys by id, one of them current; wraps owner keys recording the key id.

    Secret text format (``MASTER_KEY`` env var or file): ``id1:base64key,id2:base64key``;
    items may also be separated by whitespace/newlines; the **last** item is current.
    Rotation: append a new key (``with_new_key``), deploy, ``rewrap`` every wrapped owner
    key for which ``needs_rewrap`` is true, then drop the old id (``without_key``).

    Wrapped format: version (1) || len(key id) (1) || key id (ASCII) || ``wrap_key`` blob.
    """

    def __init__(self, keys: Mapping[str, bytes], current_id: str) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        checked: dict[str, bytes] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
                raise ValueError("master key ids are 1-64 characters among A-Z a-z 0-9 . _ -")
            checked[key_id] = _check_key(key, f"master key {key_id!r}")
        if current_id not in checked:
            raise ValueError(f"current master key id {current_id!r} is not in the keyring")
        self._keys = checked
        self._current_id = current_id

    # -- construction / serialisation

    @classmethod
    def from_secret(cls, text: str) -> MasterKeyring:
        items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
        if not items:
            raise ValueError("empty master key secret")
        keys: dict[str, bytes] = {}
        for item in items:
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id or not encoded:
                raise ValueError("master key secret items must look like 'id:base64key'")
            if key_id in keys:
                raise ValueError(f"duplicate master key id {key_id!r}")
            normalised = encoded.replace("-", "+").replace("_", "/")
            normalised += "=" * (-len(normalised) % 4)
            try:
                keys[key_id] = base64.b64decode(normalised, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"master key {key_id!r} is not valid base64") from None
            if len(keys[key_id]) != KEY_SIZE:
                raise ValueError(f"master key {key_id!r} must decode to {KEY_SIZE} bytes")
        return cls(keys, current_id=items[-1].partition(":")[0])

    @classmethod
    def generate(cls, key_id: str | None = None) -> MasterKeyring:
        key_id = key_id or _new_key_id()
        return cls({key_id: generate_key()}, key_id)

    def with_new_key(self, key_id: str | None = None) -> MasterKeyring:
        """A copy with one more, fresh key that becomes current (rotation step 1)."""
        key_id = key_id or _new_key_id()
        if key_id in self._keys:
            raise ValueError(f"master key id {key_id!r} already exists")
        return MasterKeyring({**self._keys, key_id: generate_key()}, key_id)

    def without_key(self, key_id: str) -> MasterKeyring:
        """A copy without ``key_id`` (after every wrapped key has been re-wrapped)."""
        if key_id == self._current_id:
            raise ValueError("cannot remove the current master key")
        if key_id not in self._keys:
            raise UnknownKeyError(f"unknown master key id {key_id!r}")
        return MasterKeyring({k: v for k, v in self._keys.items() if k != key_id}, self._current_id)

    def to_secret(self) -> str:
        """Serialise in the ``from_secret`` format (current key last)."""
        order = [k for k in self._keys if k != self._current_id] + [self._current_id]
        return ",".join(f"{k}:{base64.b64encode(self._keys[k]).decode('ascii')}" for k in order)

    @property
    def current_id(self) -> str:
        return self._current_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __repr__(self) -> str:  # never print key material
        return f"MasterKeyring(key_ids={list(self._keys)!r}, current_id={self._current_id!r})"

    # -- wrapping

    def wrap(self, key: bytes, context: str) -> bytes:
        key_id = self._current_id
        encoded_id = key_id.encode("ascii")
        return (
            bytes([_RING_VERSION, len(encoded_id)])
            + encoded_id
            + wrap_key(self._keys[key_id], key, context)
        )

    @staticmethod
    def _split(wrapped: bytes) -> tuple[str, bytes]:
        wrapped = bytes(wrapped)
        if len(wrapped) < 2 or wrapped[0] != _RING_VERSION or len(wrapped) < 2 + wrapped[1]:
            raise IntegrityError("malformed wrapped key")
        end = 2 + wrapped[1]
        try:
            key_id = wrapped[2:end].decode("ascii")
        except UnicodeDecodeError:
            raise IntegrityError("malformed wrapped key") from None
        return key_id, wrapped[end:]

    @classmethod
    def key_id_of(cls, wrapped: bytes) -> str:
        """The id of the master key that wrapped this blob."""
        return cls._split(wrapped)[0]

    def needs_rewrap(self, wrapped: bytes) -> bool:
        return self.key_id_of(wrapped) != self._current_id

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        key_id, blob = self._split(wrapped)
        if key_id not in self._keys:
            raise UnknownKeyError(f"master key {key_id!r} is not in the keyring")
        return unwrap_key(self._keys[key_id], blob, context)

    def rewrap(self, wrapped: bytes, context: str) -> bytes:
        """Unwrap with the recorded (maybe old) master key, wrap again with the current one."""
        return self.wrap(self.unwrap(wrapped, context), context)


def _new_key_id() -> str:
    return "mk-" + secrets.token_hex(4)


# --------------------------------------------------------------------------- conveniences


def owner_key_context(owner_id: str) -> str:
    """Context binding a wrapped owner key to its owner (use for ring.wrap/unwrap)."""
    return f"guichet-wallet/owner-key/{owner_id}"


def data_key_context(owner_id: str, object_id: str) -> str:
    """Context binding a wrapped DEK to its owner *and* object."""
    return f"guichet-wallet/data-key/{owner_id}/{object_id}"


def new_owner_key(ring: MasterKeyring, owner_id: str) -> tuple[bytes, bytes]:
    """(owner key, wrapped owner key to store)."""
    key = generate_key()
    return key, ring.wrap(key, owner_key_context(owner_id))


def new_data_key(owner_key: bytes, owner_id: str, object_id: str) -> tuple[bytes, bytes]:
    """(DEK, wrapped DEK to store) for a new object."""
    dek = generate_key()
    return dek, wrap_key(owner_key, dek, data_key_context(owner_id, object_id))


def open_data_key(
    ring: MasterKeyring,
    wrapped_owner_key: bytes,
    wrapped_dek: bytes,
    owner_id: str,
    object_id: str,
) -> bytes:
    """Unwrap owner key then DEK.  ``IntegrityError`` / ``UnknownKeyError`` on failure."""
    owner_key = ring.unwrap(wrapped_owner_key, owner_key_context(owner_id))
    return unwrap_key(owner_key, wrapped_dek, data_key_context(owner_id, object_id))
