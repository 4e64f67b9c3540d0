"""Porte-documents routes (wallet service), and the back-office justificatif routes.

Uploads are streamed: the multipart body is parsed as it arrives (no temporary file,
so no plaintext on the gateway's disk) and forwarded to the wallet in parts of at most
the wallet's part size; a file that fits in one message goes in one RPC. The size limit
is checked from Content-Length before reading, then again while reading.
Downloads are streamed part by part in the same way. File bytes go over the RPC as raw
bytes (MessagePack, see guichet_common.wire), not base64.
"""
from __future__ import annotations

import base64
import time
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, g, jsonify, request, stream_with_context
from guichet_common.errors import BadRequest, Invalid, PayloadTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ..auth import require_auth, require_staff
from . import bp, json_body, page_args, rpc

READ_SIZE = 64 * 1024
MULTIPART_OVERHEAD = 16 * 1024  # boundaries, part headers and small fields around the file
SINGLE_MESSAGE_MAX = 4 * 1024 * 1024  # larger files go part by part
_LIMITS_TTL = 60.0


def wallet_limits() -> dict[str, Any]:
    """The wallet's limits (max upload, quota, part size), cached a minute."""
    cache = current_app.extensions.setdefault("wallet_limits", {"at": 0.0, "value": None})
    if cache["value"] is None or time.monotonic() - cache["at"] > _LIMITS_TTL:
        cache["value"] = rpc("wallet", "limits")
        cache["at"] = time.monotonic()
    return cache["value"]  # type: ignore[no-any-return]


def too_large(limit: int) -> PayloadTooLarge:
    mo = f"{limit / (1024 * 1024):.1f}".rstrip("0").rstrip(".").replace(".", ",")
    msg = f"Le fichier dépasse la taille maximale autorisée ({mo} Mo)."
    return PayloadTooLarge(msg, errors={"file": [msg]}, limit_bytes=limit)


class _Forwarder:
    """Receives the file's bytes and sends them to the wallet: one message when small,
    else begin_upload / upload_part... / finish_upload."""

    def __init__(self, token: str, filename: str, limits: dict[str, Any]) -> None:
        self.token, self.filename = token, filename
        self.limit = int(limits["max_upload_bytes"])
        self.part_size = int(limits["part_size"])
        self.buf = bytearray()
        self.total = 0
        self.upload_id: str | None = None
        self.index = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise too_large(self.limit)
        self.buf += data
        if self.upload_id is None and len(self.buf) <= SINGLE_MESSAGE_MAX:
            return
        if self.upload_id is None:
            self.upload_id = rpc("wallet", "begin_upload", self.token, self.filename, None, None, None)["upload_id"]
        while len(self.buf) > self.part_size:  # keep the tail: the last part is sent by finish()
            self._send(bytes(self.buf[: self.part_size]))
            del self.buf[: self.part_size]

    def _send(self, chunk: bytes) -> None:
        rpc("wallet", "upload_part", self.token, self.upload_id, self.index, chunk)  # raw bytes (MessagePack)
        self.index += 1

    def finish(self, title: str | None, kind: str | None) -> dict[str, Any]:
        if self.upload_id is None:
            return rpc("wallet", "upload_document", self.token, self.filename,  # type: ignore[no-any-return]
                       bytes(self.buf), title, kind)
        self._send(bytes(self.buf))
        self.buf.clear()
        return rpc("wallet", "finish_upload", self.token, self.upload_id, title, kind)  # type: ignore[no-any-return]

    def abort(self) -> None:
        if self.upload_id is not None:
            try:
                rpc("wallet", "abort_upload", self.token, self.upload_id)
            except Exception:  # the wallet's janitor removes it later
                current_app.logger.warning("abort of a chunked upload failed")


def receive_upload(token: str, before_file: Callable[[dict[str, str]], None] | None = None) -> dict[str, Any]:
    """Parse the multipart body as it streams in and forward the `file` field to the wallet.
    Returns the wallet's document view. ``before_file(fields)`` runs when the file part
    starts, with the fields received so far (the pages check their CSRF token there, so
    the form must put it before the file)."""
    limits = wallet_limits()
    limit = int(limits["max_upload_bytes"])
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise too_large(limit)  # early, without reading the body
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise BadRequest("Envoyez le fichier en multipart/form-data (champ file).",
                         errors={"file": ["Sélectionnez un fichier."]})
    decoder = MultipartDecoder(options["boundary"].encode("latin-1"), max_form_memory_size=64 * 1024, max_parts=20)
    fields: dict[str, str] = {}
    g.upload_fields = fields  # the pages re-fill the form from it after an error
    current: tuple[str, str] = ("skip", "")
    field_buf = bytearray()
    forwarder: _Forwarder | None = None
    stream = request.stream
    try:
        done = False
        while not done:
            chunk = stream.read(READ_SIZE)
            decoder.receive_data(chunk if chunk else None)
            while True:
                try:
                    event = decoder.next_event()
                except ValueError:
                    raise BadRequest("Corps multipart invalide.") from None
                if isinstance(event, NeedData):
                    if not chunk:
                        raise BadRequest("Corps multipart incomplet.")
                    break
                if isinstance(event, Epilogue):
                    done = True
                    break
                if isinstance(event, File) and event.name == "file" and forwarder is None and event.filename:
                    # (a form sent with no file chosen has a file part with an empty name)
                    if before_file is not None:
                        before_file(fields)
                    forwarder = _Forwarder(token, event.filename or "", limits)
                    current = ("file", "")
                elif isinstance(event, Field) and event.name in ("title", "kind", "csrf_token"):
                    current, field_buf = ("field", event.name), bytearray()
                elif isinstance(event, (Field, File)):
                    current = ("skip", "")
                elif isinstance(event, Data):
                    if current[0] == "file" and forwarder is not None:
                        forwarder.feed(event.data)
                    elif current[0] == "field":
                        field_buf += event.data
                        if len(field_buf) > 1000:
                            raise Invalid(errors={current[1]: ["Valeur trop longue."]})
                        if not event.more_data:
                            fields[current[1]] = field_buf.decode("utf-8", "replace")
        if forwarder is None:
            raise Invalid("Sélectionnez un fichier.", errors={"file": ["Sélectionnez un fichier."]})
        return forwarder.finish(fields.get("title") or None, fields.get("kind") or None)
    except BaseException:
        if forwarder is not None:
            forwarder.abort()
        raise


def content_disposition(name: str, inline: bool = False) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (RFC 5987)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c for c in ascii_name if c.isprintable() and c not in '"\\;') or "document"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(first: dict[str, Any], rest: Iterator[bytes] | None = None, inline: bool = False) -> Response:
    # `content` (raw bytes) when the wallet was asked raw=True, else base64 text
    head = first["content"] if "content" in first else base64.b64decode(first["content_b64"])

    def body() -> Iterator[bytes]:
        yield head
        if rest is not None:
            yield from rest

    resp = Response(stream_with_context(body()) if rest is not None else head, status=200,
                    mimetype=first["content_type"] or "application/octet-stream", direct_passthrough=True)
    resp.headers["Content-Length"] = str(first["size"])
    resp.headers["Content-Disposition"] = content_disposition(first.get("download_name") or first["filename"], inline)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    # even if a browser renders it, it runs nothing and reaches nothing
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return resp


def document_content(token: str, document_id: str, inline: bool = False) -> Response:
    first = rpc("wallet", "read_document_part", token, document_id, 0, raw=True)

    def rest() -> Iterator[bytes]:
        for index in range(1, first["parts"]):
            yield rpc("wallet", "read_document_part", token, document_id, index, raw=True)["content"]

    return file_response(first, rest() if first["parts"] > 1 else None, inline)


# --------------------------------------------------------------------------- documents


@bp.post("/wallet/documents")
@require_auth
def wallet_upload():  # type: ignore[no-untyped-def]
    doc = receive_upload(g.token)
    resp = jsonify(doc)
    resp.status_code = 201
    resp.headers["Location"] = f"/api/v1/wallet/documents/{doc['id']}"
    return resp


@bp.get("/wallet/documents")
@require_auth
def wallet_list():  # type: ignore[no-untyped-def]
    page, size = page_args()
    return jsonify(rpc("wallet", "list_documents", g.token, page, size))


@bp.get("/wallet/documents/<document_id>")
@require_auth
def wallet_get(document_id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("wallet", "get_document", g.token, document_id))


@bp.get("/wallet/documents/<document_id>/content")
@require_auth
def wallet_content(document_id: str):  # type: ignore[no-untyped-def]
    return document_content(g.token, document_id)


@bp.patch("/wallet/documents/<document_id>")
@require_auth
def wallet_rename(document_id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("wallet", "rename_document", g.token, document_id, d.get("filename"), d.get("title")))


@bp.delete("/wallet/documents/<document_id>")
@require_auth
def wallet_delete(document_id: str):  # type: ignore[no-untyped-def]
    rpc("wallet", "delete_document", g.token, document_id)
    return "", 204


@bp.get("/wallet/documents/<document_id>/access-log")
@require_auth
def wallet_access_log(document_id: str):  # type: ignore[no-untyped-def]
    return jsonify({"items": rpc("wallet", "access_log", g.token, document_id)})


# --------------------------------------------------------------------------- justificatifs


@bp.post("/wallet/justificatifs")
@require_auth
def justificatif_submit():  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("wallet", "submit_justificatif", g.token, d.get("document_id"), d.get("kind"))), 201


@bp.get("/wallet/justificatifs")
@require_auth
def justificatif_list():  # type: ignore[no-untyped-def]
    return jsonify({"items": rpc("wallet", "list_justificatifs", g.token)})


@bp.get("/backoffice/justificatifs")
@require_staff
def backoffice_justificatifs():  # type: ignore[no-untyped-def]
    page, size = page_args()
    return jsonify(rpc("wallet", "review_justificatifs", g.token, request.args.get("status", "pending"), page, size))


@bp.get("/backoffice/justificatifs/<justificatif_id>")
@require_staff
def backoffice_justificatif(justificatif_id: str):  # type: ignore[no-untyped-def]
    return jsonify(rpc("wallet", "review_justificatif", g.token, justificatif_id))


@bp.get("/backoffice/justificatifs/<justificatif_id>/content")
@require_staff
def backoffice_justificatif_content(justificatif_id: str):  # type: ignore[no-untyped-def]
    return file_response(rpc("wallet", "read_justificatif", g.token, justificatif_id, raw=True))


@bp.post("/backoffice/justificatifs/<justificatif_id>/validate")
@require_staff
def backoffice_justificatif_validate(justificatif_id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("wallet", "validate_justificatif", g.token, justificatif_id, d.get("valid_until")))


@bp.post("/backoffice/justificatifs/<justificatif_id>/refuse")
@require_staff
def backoffice_justificatif_refuse(justificatif_id: str):  # type: ignore[no-untyped-def]
    d = json_body()
    return jsonify(rpc("wallet", "refuse_justificatif", g.token, justificatif_id, d.get("reason")))
