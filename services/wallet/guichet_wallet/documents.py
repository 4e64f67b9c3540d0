"""Wallet use cases: documents, chunked transfers, shared copies, access log, keys.

Storage layout and consistency are described in objectstore.py; the key hierarchy in
crypto.py. Every object is stored as N parts, each an independent STREAM ciphertext
(object id ``<row id>/<index>`` bound in its AAD) under the row's data key:

* ``upload_document`` (one RPC message) writes 1 part;
* a chunked upload (``begin_upload`` / ``upload_part`` / ``finish_upload``) writes one
  part per message, each on whatever replica takes it (a row per part, no shared
  counter); ``finish_upload`` checks contiguity and sizes, then sniffs the format and
  computes the SHA-256 in one streamed pass over the decrypted parts;
* downloads read part by part (``read_document_part``), so no process ever holds more
  than one part (1 MiB) of plaintext at a time, whatever the file size.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from guichet_common.auth import Caller
from guichet_common.db import UnitOfWork, utcnow
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from . import domain, formats
from .crypto import (
    EncryptingReader,
    MasterKeyring,
    ciphertext_length,
    data_key_context,
    decrypt_stream,
    generate_key,
    new_data_key,
    owner_key_context,
    unwrap_key,
)
from .crypto import IntegrityError as CryptoIntegrityError
from .exceptions import (
    DocumentNotFound,
    FileTooLarge,
    FormatRefused,
    InvalidWalletData,
    QuotaExceeded,
    StoreUnavailable,
    WrongState,
)
from .models import AccessLog, Document, OwnerKey, SharedCopy, StoredObject, UploadPart
from .objectstore import ObjectStore, object_key, object_prefix

log = logging.getLogger(__name__)
STORED_MODELS: tuple[Any, ...] = (Document, SharedCopy)
# One RPC message answers at most this much plaintext; bigger reads go part by part.
MAX_WHOLE_READ = 8 * 1024 * 1024


@dataclass
class Ctx:
    uow: UnitOfWork
    store: ObjectStore
    ring: MasterKeyring
    config: dict[str, Any]
    origin: str = "portail"
    _owner_keys: dict[str, bytes] = field(default_factory=dict)

    @property
    def max_upload(self) -> int:
        return int(self.config.get("MAX_UPLOAD_BYTES") or 2 * 1024 * 1024)

    @property
    def quota(self) -> int:
        return int(self.config.get("QUOTA_BYTES") or 100 * 1024 * 1024)


def new_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- keys


def owner_key(ctx: Ctx, owner_id: str, create: bool = False) -> bytes | None:
    if owner_id in ctx._owner_keys:
        return ctx._owner_keys[owner_id]
    s = ctx.uow.session
    row = s.get(OwnerKey, owner_id)
    if row is None:
        if not create:
            return None
        key = generate_key()
        wrapped = ctx.ring.wrap(key, owner_key_context(owner_id))
        try:
            with s.begin_nested():
                s.add(OwnerKey(owner_id=owner_id, wrapped_key=wrapped, master_key_id=ctx.ring.current_id))
            ctx.uow.commit()
        except IntegrityError:  # a concurrent first upload made it: use theirs
            ctx.uow.session.rollback()
            row = s.get(OwnerKey, owner_id)
            assert row is not None
        else:
            ctx._owner_keys[owner_id] = key
            return key
    key = ctx.ring.unwrap(row.wrapped_key, owner_key_context(owner_id))
    ctx._owner_keys[owner_id] = key
    return key


def _dek(ctx: Ctx, row: StoredObject) -> bytes:
    key = owner_key(ctx, row.owner_id)
    if key is None:  # shredded
        raise DocumentNotFound()
    return unwrap_key(key, row.wrapped_dek, data_key_context(row.owner_id, row.id))


def _new_dek(ctx: Ctx, owner_id: str, object_id: str) -> tuple[bytes, bytes]:
    key = owner_key(ctx, owner_id, create=True)
    assert key is not None
    return new_data_key(key, owner_id, object_id)


def rewrap_owner_keys(ctx: Ctx, limit: int = 500) -> dict[str, int]:
    """Master-key rotation: re-wrap owner keys made under an older master key. Objects and
    data keys are untouched."""
    s = ctx.uow.session
    # keys under a master key this process does not hold are left alone (a replica with
    # an older keyring during a deploy must not fail the whole batch)
    known = [k for k in ctx.ring.key_ids if k != ctx.ring.current_id]
    rows = s.execute(select(OwnerKey).where(OwnerKey.master_key_id.in_(known))
                     .limit(limit)).scalars().all()
    for row in rows:
        row.wrapped_key = ctx.ring.rewrap(row.wrapped_key, owner_key_context(row.owner_id))
        row.master_key_id = ctx.ring.current_id
        row.rewrapped_at = utcnow()
    ctx.uow.commit()
    remaining = s.execute(select(func.count()).select_from(OwnerKey)
                          .where(OwnerKey.master_key_id != ctx.ring.current_id)).scalar_one()
    return {"rewrapped": len(rows), "remaining": int(remaining)}


# --------------------------------------------------------------------------- parts


def _part_sizes(row: StoredObject) -> list[int]:
    return [int(x) for x in row.part_sizes.split(",") if x] if row.part_sizes else []


def _put_part(ctx: Ctx, row: StoredObject, dek: bytes, index: int, data: bytes | memoryview) -> None:
    reader = EncryptingReader(dek, f"{row.id}/{index}", data)
    ctx.store.put(object_key(row.owner_id, row.id, index), reader, ciphertext_length(len(data)))  # type: ignore[arg-type]


def _iter_part(ctx: Ctx, row: StoredObject, dek: bytes, index: int) -> Iterator[bytes]:
    try:
        yield from decrypt_stream(dek, f"{row.id}/{index}", ctx.store.get(object_key(row.owner_id, row.id, index)))
    except CryptoIntegrityError:
        log.error("object %s part %d failed authentication", row.id, index)
        raise StoreUnavailable("Le document est illisible (intégrité non vérifiée).") from None


def _read_part(ctx: Ctx, row: StoredObject, dek: bytes, index: int) -> bytes:
    return b"".join(_iter_part(ctx, row, dek, index))


class PartsReader(io.RawIOBase):
    """Seekable read-only view of an object's decrypted parts, holding one part at a time
    (for format sniffing after a chunked upload)."""

    def __init__(self, ctx: Ctx, row: StoredObject, dek: bytes, sizes: list[int]) -> None:
        self.ctx, self.row, self.dek, self.sizes = ctx, row, dek, sizes
        self.starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self.size = sum(sizes)
        self.pos = 0
        self._index = -1
        self._data = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.size:
            return 0
        index = max(i for i, start in enumerate(self.starts) if start <= self.pos)
        if index != self._index:
            self._data = _read_part(self.ctx, self.row, self.dek, index)
            self._index = index
        offset = self.pos - self.starts[index]
        chunk = self._data[offset: offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


# --------------------------------------------------------------------------- helpers


def _b64(content_b64: Any, field_name: str = "file") -> bytes:
    """The file's bytes from an RPC argument: raw bytes (MessagePack callers), or base64 text."""
    if isinstance(content_b64, (bytes, bytearray, memoryview)):
        return bytes(content_b64)
    if not isinstance(content_b64, str):
        raise InvalidWalletData(errors={field_name: ["Le contenu du fichier est manquant."]})
    try:  # strict: any character outside the alphabet is an error (and it is C-fast)
        return binascii.a2b_base64(content_b64.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidWalletData(errors={field_name: ["Le contenu du fichier est mal encodé."]}) from None


def _content(data: bytes, raw: Any) -> dict[str, Any]:
    """The bytes of a read: ``content`` (raw bytes) when the caller asked ``raw=True``,
    else ``content_b64`` (base64 text, what JSON callers expect)."""
    if raw is True:
        return {"content": data}
    return {"content_b64": base64.b64encode(data).decode("ascii")}


def _too_large(ctx: Ctx) -> FileTooLarge:
    msg = domain.too_large_message(ctx.max_upload)
    return FileTooLarge(msg, errors={"file": [msg]}, limit_bytes=ctx.max_upload)


def _sniff(head: bytes, more: Any) -> formats.Detected:
    try:
        return formats.sniff(head, more)
    except formats.UnsupportedFormat as exc:
        log.info("upload refused: %s", exc.reason)
        raise FormatRefused(str(exc), errors={"file": [str(exc)]}, accepted=list(formats.ACCEPTED)) from None


def _check_quota(ctx: Ctx, owner_id: str, adding: int, exclude: str | None = None) -> None:
    q = select(func.coalesce(func.sum(Document.size), 0)).where(Document.owner_id == owner_id,
                                                               Document.status.in_(("active", "pending")))
    if exclude:
        q = q.where(Document.id != exclude)
    used = int(ctx.uow.session.execute(q).scalar_one())
    if used + adding > ctx.quota:
        msg = domain.quota_message(used, ctx.quota)
        raise QuotaExceeded(msg, errors={"file": [msg]}, limit_bytes=ctx.quota)


def _clean(value: Any, fn: Any, field_name: str) -> Any:
    try:
        return fn(value)
    except ValueError as exc:
        raise InvalidWalletData(errors={field_name: [str(exc)]}) from None


_BY_TYPE = {d.content_type: d for d in formats._DETECTED.values()}


def download_name(filename: str, content_type: str) -> str:
    """The display name with the extension of the detected content (never a path)."""
    detected = _BY_TYPE.get(content_type)
    return formats.download_name(filename, detected) if detected else formats.safe_display_name(filename)


def document_view(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id, "filename": doc.filename, "download_name": download_name(doc.filename, doc.content_type),
        "title": doc.title, "kind": doc.kind,
        "kind_label": domain.kind_label(doc.kind), "size": doc.size, "content_type": doc.content_type,
        "sha256": doc.sha256, "parts": doc.parts,
        "created_at": doc.created_at.isoformat(), "updated_at": doc.updated_at.isoformat(),
    }


def shared_view(row: SharedCopy) -> dict[str, Any]:
    return {"shared_id": row.id, "filename": row.filename,
            "download_name": download_name(row.filename, row.content_type), "content_type": row.content_type, "size": row.size,
            "sha256": row.sha256, "scope": row.scope, "document_id": row.document_id}


def _own_document(ctx: Ctx, caller: Caller, document_id: Any, status: str = "active") -> Document:
    if not isinstance(document_id, str):
        raise DocumentNotFound()
    doc = ctx.uow.session.get(Document, document_id)
    # another person's document is "not found": its existence is not revealed
    if doc is None or doc.owner_id != caller.id or doc.status != status:
        raise DocumentNotFound()
    return doc


def _store_whole(ctx: Ctx, row: StoredObject, data: bytes) -> None:
    """Row (pending) first, then the object, then the row active (see objectstore.py).
    The object is cut in parts of PART_SIZE, as a chunked upload would be, so that they
    go to the store side by side."""
    dek, row.wrapped_dek = _new_dek(ctx, row.owner_id, row.id)
    view = memoryview(data)
    starts = range(0, max(len(data), 1), domain.PART_SIZE)
    row.parts, row.status = len(starts), "pending"
    row.part_sizes = ",".join(str(len(view[s:s + domain.PART_SIZE])) for s in starts)
    ctx.uow.session.add(row)
    ctx.uow.commit()
    try:
        ctx.store.each(lambda i: _put_part(ctx, row, dek, i, view[starts[i]:starts[i] + domain.PART_SIZE]),
                       range(len(starts)))
    except Exception:
        ctx.uow.session.delete(row)
        ctx.uow.commit()
        raise
    row.status = "active"
    ctx.uow.commit()


def _remove_objects(ctx: Ctx, row: StoredObject) -> None:
    """Hide the row, delete its objects, then the row. Store down before anything was
    deleted: the row comes back and the caller gets 503."""
    row.status = "deleting"
    ctx.uow.commit()
    try:
        ctx.store.delete_prefix(object_prefix(row.owner_id, row.id))
    except StoreUnavailable:
        row.status = "active"
        ctx.uow.commit()
        raise
    ctx.uow.session.execute(delete(UploadPart).where(UploadPart.document_id == row.id))
    ctx.uow.session.delete(row)
    ctx.uow.commit()


def log_access(ctx: Ctx, caller: Caller, owner_id: str, document_id: str | None, shared: SharedCopy | None = None,
               action: str = "read") -> None:
    ctx.uow.session.add(AccessLog(
        owner_id=owner_id, document_id=document_id, shared_id=shared.id if shared else None,
        scope=shared.scope if shared else None, actor_id=caller.id,
        actor_role=domain.actor_role(caller.id, caller.roles, owner_id),
        actor_name=(caller.name or caller.email or "")[:200], service=ctx.origin, action=action))
    ctx.uow.commit()


# --------------------------------------------------------------------------- documents


def upload(ctx: Ctx, caller: Caller, filename: Any, content_b64: Any, title: Any = None, kind: Any = None
           ) -> dict[str, Any]:
    title = _clean(title, domain.clean_title, "title")
    kind = _clean(kind, domain.clean_kind, "kind")
    if isinstance(content_b64, str) and len(content_b64) * 3 // 4 > ctx.max_upload + 3:
        raise _too_large(ctx)  # before decoding anything
    data = _b64(content_b64)
    if len(data) > ctx.max_upload:
        raise _too_large(ctx)
    detected = _sniff(data[: formats.HEAD_SIZE], data)
    _check_quota(ctx, caller.id, len(data))
    doc = Document(id=new_id(), owner_id=caller.id, filename=formats.safe_display_name(str(filename or "")),
                   title=title, kind=kind, content_type=detected.content_type, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest())
    _store_whole(ctx, doc, data)
    return document_view(doc)


def begin_upload(ctx: Ctx, caller: Caller, filename: Any, size: Any = None, title: Any = None, kind: Any = None
                 ) -> dict[str, Any]:
    title = _clean(title, domain.clean_title, "title")
    kind = _clean(kind, domain.clean_kind, "kind")
    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise InvalidWalletData(errors={"size": ["Taille invalide."]})
        if size > ctx.max_upload:
            raise _too_large(ctx)
        _check_quota(ctx, caller.id, size)
    doc = Document(id=new_id(), owner_id=caller.id, filename=formats.safe_display_name(str(filename or "")),
                   title=title, kind=kind, size=0, parts=0, part_sizes="", status="uploading")
    _, doc.wrapped_dek = _new_dek(ctx, caller.id, doc.id)
    ctx.uow.session.add(doc)
    ctx.uow.commit()
    return {"upload_id": doc.id, "part_size": domain.PART_SIZE, "max_bytes": ctx.max_upload}


def upload_part(ctx: Ctx, caller: Caller, upload_id: Any, index: Any, content_b64: Any) -> dict[str, Any]:
    doc = _own_document(ctx, caller, upload_id, status="uploading")
    max_parts = domain.parts_for(ctx.max_upload)
    if not isinstance(index, int) or not 0 <= index < max_parts:
        if isinstance(index, int) and index >= max_parts:
            raise _too_large(ctx)
        raise InvalidWalletData(errors={"index": ["Numéro de partie invalide."]})
    if isinstance(content_b64, str) and len(content_b64) * 3 // 4 > domain.PART_SIZE + 3:
        raise InvalidWalletData(errors={"file": [f"Une partie ne doit pas dépasser {domain.PART_SIZE} octets."]})
    data = _b64(content_b64)
    if len(data) > domain.PART_SIZE:
        raise InvalidWalletData(errors={"file": [f"Une partie ne doit pas dépasser {domain.PART_SIZE} octets."]})
    s = ctx.uow.session
    others = s.execute(select(func.coalesce(func.sum(UploadPart.size), 0))
                       .where(UploadPart.document_id == doc.id, UploadPart.index != index)).scalar_one()
    if int(others) + len(data) > ctx.max_upload:
        raise _too_large(ctx)
    dek = _dek(ctx, doc)
    _put_part(ctx, doc, dek, index, data)  # the object first: the row's prefix covers it if we die now
    part = s.get(UploadPart, (doc.id, index))
    if part is None:
        s.add(UploadPart(document_id=doc.id, index=index, size=len(data)))
    else:  # a retried part replaced the object
        part.size = len(data)
    try:
        ctx.uow.commit()
    except IntegrityError:  # the same part twice at once, on two replicas: same bytes
        s.rollback()
    return {"upload_id": doc.id, "index": index, "size": len(data)}


def finish_upload(ctx: Ctx, caller: Caller, upload_id: Any, title: Any = None, kind: Any = None) -> dict[str, Any]:
    doc = _own_document(ctx, caller, upload_id, status="uploading")
    if title is not None:
        doc.title = _clean(title, domain.clean_title, "title")
    if kind is not None:
        doc.kind = _clean(kind, domain.clean_kind, "kind")
    parts = ctx.uow.session.execute(select(UploadPart).where(UploadPart.document_id == doc.id)
                                    .order_by(UploadPart.index)).scalars().all()
    sizes = [p.size for p in parts]
    if not parts or [p.index for p in parts] != list(range(len(parts))):
        raise InvalidWalletData(errors={"file": ["Envoi incomplet : des parties du fichier manquent."]})
    total = sum(sizes)
    try:
        if total > ctx.max_upload:
            raise _too_large(ctx)
        _check_quota(ctx, caller.id, total, exclude=doc.id)
        dek = _dek(ctx, doc)
        reader = PartsReader(ctx, doc, dek, sizes)
        head = reader.read(formats.HEAD_SIZE)
        detected = _sniff(head, reader)
        digest = hashlib.sha256()
        for index in range(len(sizes)):
            for chunk in _iter_part(ctx, doc, dek, index):
                digest.update(chunk)
    except (FileTooLarge, FormatRefused, QuotaExceeded):
        ctx.uow.session.rollback()
        abort_upload(ctx, caller, upload_id)
        raise
    doc.content_type, doc.size, doc.sha256 = detected.content_type, total, digest.hexdigest()
    doc.parts, doc.part_sizes, doc.status = len(sizes), ",".join(map(str, sizes)), "active"
    doc.created_at = utcnow()
    ctx.uow.session.execute(delete(UploadPart).where(UploadPart.document_id == doc.id))
    ctx.uow.commit()
    return document_view(doc)


def abort_upload(ctx: Ctx, caller: Caller, upload_id: Any) -> None:
    doc = _own_document(ctx, caller, upload_id, status="uploading")
    _remove_objects(ctx, doc)


def list_documents(ctx: Ctx, caller: Caller, page: Any = 1, page_size: Any = 50) -> dict[str, Any]:
    page = page if isinstance(page, int) and page > 0 else 1
    page_size = page_size if isinstance(page_size, int) and 0 < page_size <= 200 else 50
    s = ctx.uow.session
    where = (Document.owner_id == caller.id, Document.status == "active")
    total = s.execute(select(func.count()).select_from(Document).where(*where)).scalar_one()
    used = s.execute(select(func.coalesce(func.sum(Document.size), 0)).where(*where)).scalar_one()
    rows = s.execute(select(Document).where(*where).order_by(Document.created_at.desc(), Document.id.desc())
                     .offset((page - 1) * page_size).limit(page_size)).scalars().all()
    return {"items": [document_view(d) for d in rows], "page": page, "page_size": page_size, "total": int(total),
            "used_bytes": int(used), "quota_bytes": ctx.quota, "max_upload_bytes": ctx.max_upload}


def get_document(ctx: Ctx, caller: Caller, document_id: Any) -> dict[str, Any]:
    return document_view(_own_document(ctx, caller, document_id))


def read_document(ctx: Ctx, caller: Caller, document_id: Any, raw: Any = False) -> dict[str, Any]:
    doc = _own_document(ctx, caller, document_id)
    if doc.size > MAX_WHOLE_READ:
        raise WrongState("Document trop volumineux pour une lecture en une fois : lisez-le par parties.")
    dek = _dek(ctx, doc)
    data = b"".join(ctx.store.each(lambda i: _read_part(ctx, doc, dek, i), range(doc.parts)))
    log_access(ctx, caller, doc.owner_id, doc.id)
    return {"filename": doc.filename, "download_name": download_name(doc.filename, doc.content_type),
            "content_type": doc.content_type, "size": doc.size, **_content(data, raw)}


def read_document_part(ctx: Ctx, caller: Caller, document_id: Any, index: Any, raw: Any = False) -> dict[str, Any]:
    doc = _own_document(ctx, caller, document_id)
    if not isinstance(index, int) or not 0 <= index < doc.parts:
        raise InvalidWalletData(errors={"index": ["Numéro de partie invalide."]})
    data = _read_part(ctx, doc, _dek(ctx, doc), index)
    if index == 0:  # one download, one entry
        log_access(ctx, caller, doc.owner_id, doc.id)
    return {"index": index, "parts": doc.parts, "filename": doc.filename,
            "download_name": download_name(doc.filename, doc.content_type), "content_type": doc.content_type,
            "size": doc.size, **_content(data, raw)}


def rename_document(ctx: Ctx, caller: Caller, document_id: Any, filename: Any = None, title: Any = None
                    ) -> dict[str, Any]:
    doc = _own_document(ctx, caller, document_id)
    if filename is not None:
        if not isinstance(filename, str) or not filename.strip():
            raise InvalidWalletData(errors={"filename": ["Indiquez un nom de fichier."]})
        doc.filename = formats.safe_display_name(filename)
    if title is not None:
        doc.title = _clean(title, domain.clean_title, "title")
    doc.updated_at = utcnow()
    ctx.uow.commit()
    return document_view(doc)


def delete_document(ctx: Ctx, caller: Caller, document_id: Any) -> None:
    _remove_objects(ctx, _own_document(ctx, caller, document_id))


def access_log(ctx: Ctx, caller: Caller, document_id: Any) -> list[dict[str, Any]]:
    doc = _own_document(ctx, caller, document_id)
    rows = ctx.uow.session.execute(select(AccessLog).where(AccessLog.document_id == doc.id,
                                                           AccessLog.owner_id == caller.id)
                                   .order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(500)).scalars().all()
    return [access_view(r) for r in rows]


def access_view(r: AccessLog) -> dict[str, Any]:
    return {"at": r.at.isoformat(), "actor_role": r.actor_role,
            "actor_name": "" if r.actor_role == "owner" else r.actor_name, "service": r.service,
            "action": r.action, "scope": r.scope, "document_id": r.document_id}


# --------------------------------------------------------------------------- shared copies


def copy_to_scope(ctx: Ctx, doc: StoredObject, scope: str, document_id: str | None) -> SharedCopy:
    """An encrypted copy (own data key, own objects) of an active object, part by part."""
    src_dek = _dek(ctx, doc)
    copy = SharedCopy(id=new_id(), owner_id=doc.owner_id, scope=scope, document_id=document_id, filename=doc.filename,
                      content_type=doc.content_type, size=doc.size, sha256=doc.sha256, parts=doc.parts,
                      part_sizes=doc.part_sizes or str(doc.size), status="pending")
    dek, copy.wrapped_dek = _new_dek(ctx, doc.owner_id, copy.id)
    ctx.uow.session.add(copy)
    ctx.uow.commit()
    try:
        ctx.store.each(lambda i: _put_part(ctx, copy, dek, i, _read_part(ctx, doc, src_dek, i)), range(doc.parts))
    except Exception:
        try:
            ctx.store.delete_prefix(object_prefix(copy.owner_id, copy.id))
            ctx.uow.session.delete(copy)
        except StoreUnavailable:
            copy.status = "deleting"  # the janitor finishes
        ctx.uow.commit()
        raise
    copy.status = "active"
    ctx.uow.commit()
    return copy


def share_document(ctx: Ctx, caller: Caller, document_id: Any, scope: Any) -> dict[str, Any]:
    scope = _clean(scope, domain.check_scope, "scope")
    doc = _own_document(ctx, caller, document_id)
    return shared_view(copy_to_scope(ctx, doc, scope, doc.id))


def store_shared(ctx: Ctx, caller: Caller, scope: Any, filename: Any, content_b64: Any) -> dict[str, Any]:
    scope = _clean(scope, domain.check_scope, "scope")
    if isinstance(content_b64, str) and len(content_b64) * 3 // 4 > ctx.max_upload + 3:
        raise _too_large(ctx)
    data = _b64(content_b64)
    if len(data) > ctx.max_upload:
        raise _too_large(ctx)
    detected = _sniff(data[: formats.HEAD_SIZE], data)
    copy = SharedCopy(id=new_id(), owner_id=caller.id, scope=scope, document_id=None,
                      filename=formats.safe_display_name(str(filename or "")), content_type=detected.content_type,
                      size=len(data), sha256=hashlib.sha256(data).hexdigest())
    _store_whole(ctx, copy, data)
    return shared_view(copy)


def _shared_for(ctx: Ctx, caller: Caller, shared_id: Any) -> SharedCopy:
    row = ctx.uow.session.get(SharedCopy, shared_id) if isinstance(shared_id, str) else None
    if row is None or row.status != "active" or not domain.may_read_shared(caller.id, caller.roles, row.owner_id,
                                                                            row.scope):
        raise DocumentNotFound()
    return row


def read_shared_row(ctx: Ctx, caller: Caller, row: SharedCopy, raw: Any = False) -> dict[str, Any]:
    if row.size > MAX_WHOLE_READ:
        raise WrongState("Document trop volumineux pour une lecture en une fois.")
    dek = _dek(ctx, row)
    data = b"".join(ctx.store.each(lambda i: _read_part(ctx, row, dek, i), range(row.parts)))
    log_access(ctx, caller, row.owner_id, row.document_id, shared=row)
    return {"filename": row.filename, "download_name": download_name(row.filename, row.content_type),
            "content_type": row.content_type, "size": row.size, **_content(data, raw)}


def read_shared(ctx: Ctx, caller: Caller, shared_id: Any, raw: Any = False) -> dict[str, Any]:
    return read_shared_row(ctx, caller, _shared_for(ctx, caller, shared_id), raw)


def get_shared(ctx: Ctx, caller: Caller, shared_id: Any) -> dict[str, Any]:
    return shared_view(_shared_for(ctx, caller, shared_id))


# --------------------------------------------------------------------------- owner lifecycle


def shred_owner(ctx: Ctx, owner_id: str) -> None:
    """Crypto-shredding: the owner key goes first (everything becomes unreadable at once,
    backups included), rows are hidden, then the objects and the rows go."""
    from .models import Justificatif

    s = ctx.uow.session
    s.execute(delete(OwnerKey).where(OwnerKey.owner_id == owner_id))
    for model in STORED_MODELS:
        for row in s.execute(select(model).where(model.owner_id == owner_id)).scalars():
            row.status = "deleting"
    s.execute(delete(Justificatif).where(Justificatif.owner_id == owner_id))
    s.execute(delete(AccessLog).where(AccessLog.owner_id == owner_id))
    ctx.uow.commit()
    ctx._owner_keys.pop(owner_id, None)
    try:
        ctx.store.delete_prefix(object_prefix(owner_id))
    except StoreUnavailable:
        log.warning("shredding: objects left for the janitor")
        return
    for model in STORED_MODELS:
        ids = s.execute(select(model.id).where(model.owner_id == owner_id)).scalars().all()
        s.execute(delete(UploadPart).where(UploadPart.document_id.in_(ids)))
        s.execute(delete(model).where(model.owner_id == owner_id))
    ctx.uow.commit()


def janitor(ctx: Ctx, stale_after_s: int = 3600) -> int:
    """Finish what a crash left: hidden rows (pending/uploading too old, deleting) lose
    their objects, then go."""
    from datetime import timedelta

    s = ctx.uow.session
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    done = 0
    for model in STORED_MODELS:
        rows = s.execute(select(model).where(
            (model.status == "deleting")
            | (model.status.in_(("pending", "uploading")) & (model.created_at < cutoff))).limit(100)).scalars().all()
        for row in rows:
            try:
                ctx.store.delete_prefix(object_prefix(row.owner_id, row.id))
            except StoreUnavailable:
                return done
            if model is SharedCopy:
                from .models import Justificatif

                if s.execute(select(func.count()).select_from(Justificatif)
                             .where(Justificatif.shared_id == row.id)).scalar_one():
                    continue
            s.execute(delete(UploadPart).where(UploadPart.document_id == row.id))
            s.delete(row)
            done += 1
        ctx.uow.commit()
    return done


def export(ctx: Ctx, owner_id: str) -> dict[str, Any]:
    from .justificatifs import justificatif_view
    from .models import Justificatif

    s = ctx.uow.session
    docs = s.execute(select(Document).where(Document.owner_id == owner_id, Document.status == "active")
                     .order_by(Document.created_at)).scalars().all()
    shared = s.execute(select(SharedCopy).where(SharedCopy.owner_id == owner_id, SharedCopy.status == "active")
                       ).scalars().all()
    justifs = s.execute(select(Justificatif).where(Justificatif.owner_id == owner_id)).scalars().all()
    logs = s.execute(select(AccessLog).where(AccessLog.owner_id == owner_id).order_by(AccessLog.at)).scalars().all()
    return {
        "documents": [document_view(d) for d in docs],
        "shared_copies": [shared_view(c) for c in shared],
        "justificatifs": [justificatif_view(j) for j in justifs],
        "access_log": [access_view(r) for r in logs],
        "note": "Le contenu des documents est téléchargeable depuis le porte-documents.",
    }
