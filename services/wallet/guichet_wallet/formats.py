"""Which documents the wallet accepts, decided by their content only.

Accepted (Versailles portal rule): .doc .pdf .rtf .odt .gif .jpg .jpeg .png .tif.

The client's file name and declared Content-Type are never trusted: ``sniff`` looks at the
bytes (a strict signature at offset 0, libmagic on the head as a cross-check, then a
structural check of the claimed format) and returns the content type and extension to
store and serve.  Everything else -- executables, scripts, HTML, SVG, XML, plain text,
other ZIP or OLE2 containers, polyglots whose claimed format does not hold together -- is
refused with ``UnsupportedFormat``, whose ``str()`` is a French message for the citizen
and ``reason`` an English explanation for the logs.

Usage with an upload spooled to a seekable temporary file::

    head = upload.read(HEAD_SIZE)
    detected = sniff(head, upload)          # upload's position is restored
    # or sniff(data) for bytes in memory, or sniff(head, lambda: open_spool())

The file name only ever becomes display data (``safe_display_name``); a download name is
rebuilt from it with the detected extension (``download_name``).
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import magic

__all__ = [
    "ACCEPTED",
    "ACCEPTED_MESSAGE",
    "HEAD_SIZE",
    "MAX_PIXELS",
    "Detected",
    "UnsupportedFormat",
    "download_name",
    "safe_display_name",
    "sniff",
]

ACCEPTED: tuple[str, ...] = (".doc", ".pdf", ".rtf", ".odt", ".gif", ".jpg", ".jpeg", ".png", ".tif")
ACCEPTED_MESSAGE = "Formats acceptés : " + ", ".join(ACCEPTED)
HEAD_SIZE = 8192  # what callers should read first and pass as ``head``
# Decompression-bomb guard for images, Pillow's hard limit (2 x 89 478 485 pixels).
MAX_PIXELS = 178_956_970
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"


@dataclass(frozen=True)
class Detected:
    kind: str  # pdf, png, gif, jpeg, tiff, rtf, odt, doc
    content_type: str
    extension: str  # with the dot, one of ACCEPTED


_DETECTED = {
    "pdf": Detected("pdf", "application/pdf", ".pdf"),
    "png": Detected("png", "image/png", ".png"),
    "gif": Detected("gif", "image/gif", ".gif"),
    "jpeg": Detected("jpeg", "image/jpeg", ".jpg"),
    "tiff": Detected("tiff", "image/tiff", ".tif"),
    "rtf": Detected("rtf", "application/rtf", ".rtf"),
    "odt": Detected("odt", "application/vnd.oasis.opendocument.text", ".odt"),
    "doc": Detected("doc", "application/msword", ".doc"),
}


class UnsupportedFormat(Exception):
    """Refused content.  ``str(exc)`` is for the citizen (French), ``reason`` for logs."""

    def __init__(self, reason: str, *, empty: bool = False) -> None:
        problem = "Le fichier est vide." if empty else "Ce type de fichier n’est pas accepté."
        super().__init__(f"{problem} {ACCEPTED_MESSAGE}")
        self.reason = reason
        self.accepted = ACCEPTED


class _Refused(Exception):
    """Internal: a structural check failed (message = reason)."""


# --------------------------------------------------------------------------- content access


class _Content:
    """Random access to the whole upload: bytes in memory or a seekable binary file."""

    _WINDOW = 64 * 1024

    def __init__(self, head: bytes, more: bytes | IO[bytes] | Callable[[], bytes | IO[bytes]] | None) -> None:
        self.head = bytes(head)
        self._more = more
        self._data: bytes | None = None
        self._file: IO[bytes] | None = None
        self._saved_pos = 0
        self._size = -1
        self._cache_start = 0
        self._cache = b""
        self._opened = False

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        src = self._more
        if src is None:
            self._data = self.head
            self._size = len(self.head)
            return
        if callable(src) and not hasattr(src, "read"):
            src = src()
        if isinstance(src, (bytes, bytearray, memoryview)):
            self._data = bytes(src)
            self._size = len(self._data)
        elif hasattr(src, "read") and hasattr(src, "seek"):
            self._file = src  # type: ignore[assignment]
            assert self._file is not None
            self._saved_pos = self._file.tell()
            self._size = self._file.seek(0, io.SEEK_END)
        else:
            raise TypeError("read_more must be bytes, a seekable binary file, or a callable returning one")
        if self.read_at(0, len(self.head)) != self.head:
            raise ValueError("head is not the start of the content")

    @property
    def size(self) -> int:
        self._open()
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the content)."""
        self._open()
        if offset < 0 or n < 0:
            raise _Refused("negative offset")
        if self._data is not None:
            return self._data[offset : offset + n]
        assert self._file is not None
        start = offset - self._cache_start
        if 0 <= start and start + n <= len(self._cache):
            return self._cache[start : start + n]
        self._file.seek(offset)
        self._cache = self._file.read(max(n, self._WINDOW))
        self._cache_start = offset
        return self._cache[:n]

    def tail(self, n: int) -> bytes:
        return self.read_at(max(0, self.size - n), n)

    def u8(self, offset: int) -> int:
        data = self.read_at(offset, 1)
        if not data:
            raise _Refused("unexpected end of file")
        return data[0]

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        data = self.read_at(offset, size)
        if len(data) != size:
            raise _Refused("unexpected end of file")
        return struct.unpack(fmt, data)

    def as_file(self) -> IO[bytes]:
        self._open()
        if self._data is not None:
            return io.BytesIO(self._data)
        assert self._file is not None
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.seek(self._saved_pos)


# --------------------------------------------------------------------------- sniffing

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"{\\rtf", "rtf"),
    (b"PK\x03\x04", "odt"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "doc"),
)

_CONTAINER = {"odt": "zip", "doc": "ole2"}  # for log messages: the signature only says this much

# What libmagic may say, on the head only, about a genuine file of each kind.
_MAGIC_OK: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    "png": ("image/png",),
    "gif": ("image/gif",),
    "jpeg": ("image/jpeg",),
    "tiff": ("image/tiff",),
    "rtf": ("text/rtf", "application/rtf"),
    "odt": ("application/vnd.oasis.opendocument.text",),
    # the CFB directory may lie beyond the head: libmagic then only knows "OLE2" (or CDFV2*)
    "doc": ("application/msword", "application/x-ole-storage", "application/vnd.ms-office"),
}


def _libmagic(head: bytes) -> str:
    try:
        return str(magic.from_buffer(head[:HEAD_SIZE], mime=True))
    except magic.MagicException as exc:  # pragma: no cover - libmagic internal error
        return f"error: {exc}"


def sniff(
    head: bytes,
    read_more: bytes | IO[bytes] | Callable[[], bytes | IO[bytes]] | None = None,
) -> Detected:
    """Identify an accepted document by content, or raise ``UnsupportedFormat``.

    ``head`` is the first bytes of the file (``HEAD_SIZE`` recommended).  ``read_more``
    gives the *whole* content for the structural checks (PDF trailer, ZIP directory, OLE2
    directory, image headers): bytes, a seekable binary file (its position is restored),
    or a zero-argument callable returning either (called at most once, when a check needs
    it or ``head`` is shorter than ``HEAD_SIZE``).  Without it, ``head`` is taken to be the
    whole file.  Raises ``ValueError`` if ``head`` is not the start of ``read_more``.
    """
    content = _Content(head, read_more)
    try:
        if read_more is not None and len(head) < HEAD_SIZE:
            content.head = content.read_at(0, HEAD_SIZE)  # libmagic and headers see a full head
        if not content.head:
            raise UnsupportedFormat("empty file", empty=True)
        return _sniff(content)
    except _Refused as exc:
        raise UnsupportedFormat(str(exc)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, struct.error, EOFError, OverflowError) as exc:
        raise UnsupportedFormat(f"malformed container: {exc}") from None
    finally:
        content.close()


def _sniff(content: _Content) -> Detected:
    head = content.head
    mime = _libmagic(head)
    kind = next((kind for signature, kind in _SIGNATURES if head.startswith(signature)), None)
    if kind is None:
        raise _Refused(f"no accepted signature at offset 0 (libmagic: {mime})")
    if mime not in _MAGIC_OK[kind] and not (kind == "doc" and mime.startswith("application/CDFV2")):
        raise _Refused(f"{_CONTAINER.get(kind, kind)} signature but libmagic says {mime}")
    _CHECKS[kind](content)
    return _DETECTED[kind]


def _check_pixels(kind: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise _Refused(f"{kind}: empty image ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise _Refused(f"{kind}: image too large ({width}x{height})")


def _check_pdf(content: _Content) -> None:
    if not re.match(rb"%PDF-[12]\.\d", content.head):
        raise _Refused("pdf: bad version line")
    # ISO 32000: %%EOF ends the file; readers look for it in the last 1024 bytes
    if b"%%EOF" not in content.tail(1024):
        raise _Refused("pdf: no %%EOF near the end (truncated or not a PDF)")


_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _check_png(content: _Content) -> None:
    ihdr = content.read_at(8, 25)
    if len(ihdr) != 25 or ihdr[:8] != b"\x00\x00\x00\x0dIHDR":
        raise _Refused("png: IHDR is not the first chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr[8:21])
    if zlib.crc32(ihdr[4:21]) != struct.unpack(">I", ihdr[21:25])[0]:
        raise _Refused("png: IHDR CRC mismatch")
    if depth not in _PNG_DEPTHS.get(colour, set()) or compression or filtering or interlace > 1:
        raise _Refused("png: invalid IHDR fields")
    _check_pixels("png", width, height)
    if _PNG_IEND not in content.tail(1024):
        raise _Refused("png: no IEND chunk at the end (truncated or appended data)")


def _gif_skip_sub_blocks(content: _Content, pos: int) -> int:
    while True:
        size = content.u8(pos)
        pos += 1 + size
        if size == 0:
            return pos


def _check_gif(content: _Content) -> None:
    width, height, flags = content.unpack("<HHB", 6)
    _check_pixels("gif", width, height)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    images = 0
    while True:
        block = content.u8(pos)
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label then sub-blocks
            pos = _gif_skip_sub_blocks(content, pos + 2)
        elif block == 0x2C:  # image descriptor (10 bytes), local colour table, LZW data
            local = content.u8(pos + 9)
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _gif_skip_sub_blocks(content, pos + 1)
            images += 1
        else:
            raise _Refused(f"gif: unexpected block 0x{block:02x}")
    if not images:
        raise _Refused("gif: no image")
    trailing = content.read_at(pos + 1, 1024)
    if trailing.strip(b"\x00") or content.size > pos + 1 + 1024:
        raise _Refused("gif: data after the trailer")


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_jpeg(content: _Content) -> None:
    """Walk the marker segments from SOI to SOS: a frame header with sane size must come first."""
    pos = 2
    frame = False
    for _ in range(4096):
        if content.u8(pos) != 0xFF:
            raise _Refused("jpeg: broken marker chain")
        while content.u8(pos) == 0xFF:  # fill bytes
            pos += 1
        marker = content.u8(pos)
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if marker in (0xD8, 0xD9, 0x00):
            raise _Refused(f"jpeg: unexpected marker 0x{marker:02x} before the scan")
        (length,) = content.unpack(">H", pos)
        if length < 2:
            raise _Refused("jpeg: bad segment length")
        if marker in _JPEG_SOF:
            precision, height, width, components = content.unpack(">BHHB", pos + 2)
            if precision not in (8, 12, 16) or components not in (1, 2, 3, 4):
                raise _Refused("jpeg: invalid frame header")
            _check_pixels("jpeg", width, height)
            frame = True
        elif marker == 0xDA:
            if not frame:
                raise _Refused("jpeg: scan without a frame header")
            return
        pos += length
    raise _Refused("jpeg: too many segments")


def _check_tiff(content: _Content) -> None:
    e = "<" if content.head[:2] == b"II" else ">"
    (ifd,) = content.unpack(e + "I", 4)
    if ifd < 8 or ifd >= content.size:
        raise _Refused("tiff: first IFD outside the file")
    (count,) = content.unpack(e + "H", ifd)
    if not 1 <= count <= 4096 or ifd + 2 + 12 * count + 4 > content.size:
        raise _Refused("tiff: bad IFD")
    values: dict[int, int] = {}
    entries = content.read_at(ifd + 2, 12 * count)
    for i in range(count):
        tag, kind, n = struct.unpack(e + "HHI", entries[12 * i : 12 * i + 8])
        if n == 1 and kind in (3, 4):
            raw = entries[12 * i + 8 : 12 * i + 12]
            values[tag] = struct.unpack(e + ("H" if kind == 3 else "I"), raw[: 2 if kind == 3 else 4])[0]
        elif tag in (273, 324):
            values[tag] = -1  # several strips/tiles: offsets stored elsewhere
    if 256 not in values or 257 not in values:
        raise _Refused("tiff: no image width/length")
    if 273 not in values and 324 not in values:
        raise _Refused("tiff: no strip or tile data")
    _check_pixels("tiff", values[256], values[257])
    (next_ifd,) = content.unpack(e + "I", ifd + 2 + 12 * count)
    if next_ifd >= content.size:
        raise _Refused("tiff: next IFD outside the file")


def _check_rtf(content: _Content) -> None:
    if not content.tail(1024).rstrip(b"\x00 \t\r\n").endswith(b"}"):
        raise _Refused("rtf: does not end with '}' (truncated or appended data)")


def _check_odt(content: _Content) -> None:
    head = content.head
    # the first local header must be "mimetype", stored, holding exactly the ODT type
    if len(head) < 30:
        raise _Refused("zip: truncated local header")
    (method,) = struct.unpack("<H", head[8:10])
    if method != zipfile.ZIP_STORED:
        raise _Refused("zip: first entry is not stored (not an OpenDocument file)")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    if head[30 : 30 + name_len] != b"mimetype":
        raise _Refused("zip: first entry is not 'mimetype' (not an OpenDocument file)")
    start = 30 + name_len + extra_len
    if content.read_at(start, len(_ODT_MIMETYPE) + 1)[: len(_ODT_MIMETYPE)] != _ODT_MIMETYPE:
        raise _Refused("zip: mimetype is not OpenDocument text")
    try:
        _check_odt_archive(content)
    except _Refused:
        raise
    except Exception as exc:  # zipfile raises many types on hostile input (NotImplementedError...)
        raise _Refused(f"zip: malformed ({type(exc).__name__}: {exc})") from None


def _check_odt_archive(content: _Content) -> None:
    with zipfile.ZipFile(content.as_file()) as archive:
        infos = archive.infolist()
        first = infos[0] if infos else None
        if (
            first is None
            or first.filename != "mimetype"
            or first.header_offset != 0
            or first.compress_type != zipfile.ZIP_STORED
        ):
            raise _Refused("zip: central directory does not start with a stored 'mimetype'")
        if archive.read(first) != _ODT_MIMETYPE:  # also checks the CRC
            raise _Refused("zip: mimetype is not exactly OpenDocument text")
        names = {info.filename for info in infos}
        if len(names) != len(infos):
            raise _Refused("zip: duplicate entry names")
        if "content.xml" not in names:
            raise _Refused("odt: no content.xml")


_CFB_SPECIAL = 0xFFFFFFFA  # ids >= this are markers (ENDOFCHAIN, FREESECT...)
_CFB_END = 0xFFFFFFFE


def _check_doc(content: _Content) -> None:
    """OLE2 compound file whose root storage holds a ``WordDocument`` stream (MS-CFB, MS-DOC)."""
    (major, byte_order, shift, _mini) = content.unpack("<HHHH", 26)
    if byte_order != 0xFFFE or (major, shift) not in ((3, 9), (4, 12)):
        raise _Refused("ole2: bad header")
    sector = 1 << shift
    n_fat, first_dir, _sig, cutoff = content.unpack("<IIII", 44)
    first_difat, n_difat = content.unpack("<II", 68)
    max_sectors = content.size // sector  # sector i is at (i + 1) * sector
    if n_fat > max_sectors or n_difat > max_sectors:
        raise _Refused("ole2: bad FAT size")

    def sector_offset(sid: int) -> int:
        if sid >= max_sectors:
            raise _Refused("ole2: sector outside the file")
        return (sid + 1) * sector

    fat_sectors = list(content.unpack(f"<{min(n_fat, 109)}I", 76))
    sid, per = first_difat, sector // 4 - 1
    for _ in range(n_difat):
        if len(fat_sectors) >= n_fat or sid >= _CFB_SPECIAL:
            break
        block = content.unpack(f"<{per + 1}I", sector_offset(sid))
        fat_sectors += block[:per]
        sid = block[per]
    fat_sectors = fat_sectors[:n_fat]

    def next_sector(sid: int) -> int:
        index, slot = divmod(sid, sector // 4)
        if index >= len(fat_sectors):
            raise _Refused("ole2: FAT too short")
        return content.unpack("<I", sector_offset(fat_sectors[index]) + 4 * slot)[0]

    # read the directory chain
    entries: list[bytes] = []
    sid, seen = first_dir, set[int]()
    while sid != _CFB_END:
        if sid >= _CFB_SPECIAL or sid in seen or len(seen) > max_sectors:
            raise _Refused("ole2: broken directory chain")
        seen.add(sid)
        data = content.read_at(sector_offset(sid), sector)
        if len(data) != sector:
            raise _Refused("ole2: truncated directory")
        entries += [data[i : i + 128] for i in range(0, sector, 128)]
        sid = next_sector(sid)

    def field(entry: bytes, fmt: str, offset: int) -> int:
        return int(struct.unpack_from(fmt, entry, offset)[0])

    def name(entry: bytes) -> str:
        length = min(field(entry, "<H", 64), 64)
        return entry[: max(0, length - 2)].decode("utf-16-le", "replace")

    if not entries or entries[0][66] != 5:
        raise _Refused("ole2: no root entry")
    # walk the root's children (a red-black tree through left/right sibling ids)
    stack, visited, top = [field(entries[0], "<I", 76)], set(), {}
    while stack:
        index = stack.pop()
        if index >= _CFB_SPECIAL:
            continue
        if index >= len(entries) or index in visited:
            raise _Refused("ole2: broken directory tree")
        visited.add(index)
        entry = entries[index]
        top[name(entry)] = entry
        stack += [field(entry, "<I", 68), field(entry, "<I", 72)]
    word = top.get("WordDocument")
    if word is None or word[66] != 2:
        raise _Refused("ole2: no top-level WordDocument stream (not a Word document)")
    start, size = field(word, "<I", 116), field(word, "<I", 120)
    if size >= cutoff:  # in regular sectors: check the FIB magic (Word 97+ or Word 6/95)
        (ident,) = content.unpack("<H", sector_offset(start))
        if ident not in (0xA5EC, 0xA5DC):
            raise _Refused("doc: WordDocument stream does not start with a FIB")


_CHECKS: dict[str, Callable[[_Content], None]] = {
    "pdf": _check_pdf,
    "png": _check_png,
    "gif": _check_gif,
    "jpeg": _check_jpeg,
    "tiff": _check_tiff,
    "rtf": _check_rtf,
    "odt": _check_odt,
    "doc": _check_doc,
}


# --------------------------------------------------------------------------- file names

_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, bidi overrides, surrogates...


def safe_display_name(filename: str, max_length: int = 120, default: str = "document") -> str:
    """The client's file name reduced to harmless *display data*.

    Keeps the last path component (``/`` or ``\\``), drops control and format characters
    (including bidi overrides such as U+202E), collapses whitespace, trims dots and spaces
    at the ends, caps the length (keeping a short extension) and never returns "" / "." /
    "..".  The result must still be escaped by templates; no path is ever built from it.
    """
    text = unicodedata.normalize("NFC", str(filename or ""))
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text:
        return default
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 1 <= len(ext) <= 10 and max_length > len(ext) + 2:
            text = stem[: max_length - len(ext) - 2].rstrip(" .") + "…." + ext
        else:
            text = text[: max_length - 1].rstrip(" .") + "…"
    return text


def download_name(display_name: str, detected: Detected) -> str:
    """A name for Content-Disposition whose extension matches the *content*.

    ``"facture.png"`` for a detected PDF becomes ``"facture.pdf"``; ``.jpeg`` is kept
    for a JPEG.  Still to be encoded per RFC 6266 / 5987 by the caller.
    """
    name = safe_display_name(display_name)
    stem, dot, ext = name.rpartition(".")
    same = {".jpg", ".jpeg"} if detected.kind == "jpeg" else {detected.extension}
    if dot and stem and "." + ext.lower() in same:
        return name
    if dot and stem and "." + ext.lower() in ACCEPTED:
        name = stem
    return name + detected.extension
