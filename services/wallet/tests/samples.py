"""Tiny sample documents built in code, for the wallet's, the gateway's and cross-service tests.

Self-contained (standard library only) so it can be imported as ``samples`` when
``services/wallet/tests`` is on ``sys.path``, or loaded from its path::

    spec = importlib.util.spec_from_file_location("wallet_samples", path)
    samples = importlib.util.module_from_spec(spec); spec.loader.exec_module(samples)

* accepted kinds: ``pdf() png() gif() jpeg() tiff() rtf() odt() doc()`` each return bytes;
  ``ACCEPTED`` maps kind -> (builder, expected extension, expected content type).
* refused contents: ``REFUSED`` maps a descriptive name -> bytes.  Names ending in a file
  extension (``svg_named.png``...) are what a hostile client would call the file.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

__all__ = [
    "ACCEPTED",
    "REFUSED",
    "cfb",
    "doc",
    "gif",
    "jpeg",
    "odt",
    "pdf",
    "png",
    "rtf",
    "tiff",
    "zip_archive",
]


def pdf(text: str = "Bonjour") -> bytes:
    """A one-page PDF 1.4 with a correct xref table."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 1, height: int = 1) -> bytes:
    """An 8-bit greyscale PNG."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def gif() -> bytes:
    """A 1x1 GIF89a (global colour table of 2 entries, one image, trailer)."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)  # logical screen, GCT flag, 2 colours
        + b"\x00\x00\x00\xff\xff\xff"  # colour table
        + b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # graphic control extension
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor
        + b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator
        + b"\x3b"
    )


def jpeg() -> bytes:
    """A baseline 1x1 greyscale JFIF (one-code Huffman tables, a single DC-0/EOB MCU)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + bytes([1] * 64)
    sof0 = struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00"
    dht_dc = b"\x00" + bytes([1] + [0] * 15) + b"\x00"  # class 0 id 0: one 1-bit code -> category 0
    dht_ac = b"\x10" + bytes([1] + [0] * 15) + b"\x00"  # class 1 id 0: one 1-bit code -> EOB
    sos = b"\x01\x01\x00\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + segment(0xE0, jfif)
        + segment(0xDB, dqt)
        + segment(0xC0, sof0)
        + segment(0xC4, dht_dc)
        + segment(0xC4, dht_ac)
        + segment(0xDA, sos)
        + b"\x3f"  # bits 0 (DC diff 0) 0 (EOB) then 1-padding
        + b"\xff\xd9"
    )


def tiff(big_endian: bool = False) -> bytes:
    """An uncompressed 1x1 8-bit greyscale TIFF."""
    e = ">" if big_endian else "<"
    tags = [  # (tag, type, count, value)  type 3 = SHORT, 4 = LONG
        (256, 3, 1, 1),  # ImageWidth
        (257, 3, 1, 1),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: BlackIsZero
        (273, 4, 1, 0),  # StripOffsets (patched below)
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 3, 1, 1),  # RowsPerStrip
        (279, 4, 1, 1),  # StripByteCounts
    ]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(tags) + 4
    out = bytearray((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", ifd_offset))
    out += struct.pack(e + "H", len(tags))
    for tag, kind, count, value in tags:
        if tag == 273:
            value = data_offset
        packed = struct.pack(e + "H", value) + b"\x00\x00" if kind == 3 else struct.pack(e + "I", value)
        out += struct.pack(e + "HHI", tag, kind, count) + packed
    out += struct.pack(e + "I", 0) + b"\x80"
    return bytes(out)


def rtf() -> bytes:
    return b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\\f0\\fs24 Bonjour \\'e9t\\'e9.\\par}\n"


ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
_CONTENT_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">'
    b"<office:body><office:text><text:p>Bonjour</text:p></office:text></office:body>"
    b"</office:document-content>"
)
_MANIFEST_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    b'manifest:version="1.3">'
    b'<manifest:file-entry manifest:full-path="/" manifest:media-type="%s"/>'
    b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    b"</manifest:manifest>"
)


def zip_archive(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A ZIP of (name, data, compress_type) entries, in that order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, compression in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            zf.writestr(info, data)
    return buf.getvalue()


def odt(mimetype: bytes = ODT_MIMETYPE, mimetype_compression: int = zipfile.ZIP_STORED) -> bytes:
    """An OpenDocument text: ``mimetype`` first and stored, content.xml, manifest."""
    return zip_archive(
        [
            ("mimetype", mimetype, mimetype_compression),
            ("content.xml", _CONTENT_XML, zipfile.ZIP_DEFLATED),
            ("META-INF/manifest.xml", _MANIFEST_XML % mimetype, zipfile.ZIP_DEFLATED),
        ]
    )


# --- OLE2 / Compound File Binary (MS-CFB), version 3, 512-byte sectors ---------------

_FREESECT, _ENDOFCHAIN, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _dir_entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le") if name else b""
    return (
        encoded.ljust(64, b"\x00")
        + struct.pack("<HBB", len(encoded), kind, 1)  # name length, type, colour black
        + struct.pack("<III", _NOSTREAM, right, child)  # left, right sibling, child
        + b"\x00" * 16  # CLSID
        + struct.pack("<I", 0)  # state bits
        + b"\x00" * 16  # creation / modification times
        + struct.pack("<IQ", start, size)
    )


def cfb(streams: dict[str, bytes], storages: dict[str, dict[str, bytes]] | None = None) -> bytes:
    """A minimal but valid compound file holding top-level ``streams`` and, optionally,
    one level of ``storages`` ({storage name: {stream name: data}}).

    Every stream is padded to at least 4096 bytes (the mini-stream cutoff) so that all
    data lives in regular sectors and no mini FAT is needed.  Siblings are chained through
    their right pointers in the MS-CFB name order (a valid, if unbalanced, tree).
    """
    sector = 512
    storages = storages or {}
    # Flatten: (name, kind, data | children names)
    entries: list[dict[str, object]] = [{"name": "Root Entry", "kind": 5, "children": []}]

    def add(parent: int, name: str, kind: int, data: bytes = b"") -> int:
        entries.append({"name": name, "kind": kind, "data": data.ljust(4096, b"\x00"), "children": []})
        index = len(entries) - 1
        children = entries[parent]["children"]
        assert isinstance(children, list)
        children.append(index)
        return index

    for name, data in streams.items():
        add(0, name, 2, data)
    for storage, members in storages.items():
        parent = add(0, storage, 1)
        entries[parent]["data"] = b""
        for name, data in members.items():
            add(parent, name, 2, data)

    def order(index: int) -> tuple[int, str]:
        name = str(entries[index]["name"])
        return (len(name), name.upper())

    child_of: dict[int, int] = {}
    right_of: dict[int, int] = {}
    for index, entry in enumerate(entries):
        kids = entry["children"]
        assert isinstance(kids, list)
        children = sorted(kids, key=order)
        if children:
            child_of[index] = children[0]
            for left, right in zip(children, children[1:], strict=False):
                right_of[left] = right

    dir_sectors = -(-len(entries) // 4)
    first_data = 1 + dir_sectors  # sector 0 = FAT, then the directory
    data = b""
    fat = [_FATSECT] + [i + 2 for i in range(dir_sectors - 1)] + [_ENDOFCHAIN]
    starts: dict[int, int] = {}
    for index, entry in enumerate(entries):
        payload = entry.get("data", b"")
        assert isinstance(payload, bytes)
        if entry["kind"] != 2:
            continue
        count = -(-len(payload) // sector)
        start = first_data + len(data) // sector
        starts[index] = start
        fat += [start + i + 1 for i in range(count - 1)] + [_ENDOFCHAIN]
        data += payload.ljust(count * sector, b"\x00")
    if len(fat) > sector // 4:
        raise ValueError("sample too large for a single FAT sector")
    fat += [_FREESECT] * (sector // 4 - len(fat))

    directory = bytearray()
    for index, entry in enumerate(entries):
        payload = entry.get("data", b"")
        assert isinstance(payload, bytes)
        directory += _dir_entry(
            str(entry["name"]),
            int(entry["kind"]),  # type: ignore[call-overload]
            child_of.get(index, _NOSTREAM),
            right_of.get(index, _NOSTREAM),
            starts.get(index, _ENDOFCHAIN if entry["kind"] == 5 else 0),
            len(payload) if entry["kind"] == 2 else 0,
        )
    while len(directory) % sector:
        directory += _dir_entry("", 0, _NOSTREAM, _NOSTREAM, 0, 0)

    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)  # minor, major, byte order, shifts
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _ENDOFCHAIN, 0, _ENDOFCHAIN, 0)
        + struct.pack("<I", 0)  # DIFAT[0]: the FAT is sector 0
        + struct.pack("<I", _FREESECT) * 108
    )
    assert len(header) == sector
    return header + struct.pack(f"<{sector // 4}I", *fat) + bytes(directory) + bytes(data)


def _fib() -> bytes:
    """Start of a Word 97 FIB: wIdent 0xA5EC, nFib 0x00C1."""
    return struct.pack("<HH", 0xA5EC, 0x00C1)


def doc() -> bytes:
    """A Word 97-2003 shaped compound file: WordDocument, 1Table, SummaryInformation-less."""
    return cfb({"WordDocument": _fib(), "1Table": b"\x00"})


# --- refused contents ------------------------------------------------------------------


def _elf() -> bytes:
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return header + b"\x00" * 64


def _pe() -> bytes:
    dos = bytearray(b"MZ" + b"\x90\x00" + b"\x00" * 56 + struct.pack("<I", 64))
    dos += b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 0xE0, 0x102)
    return bytes(dos) + b"\x00" * 256


def _macho() -> bytes:
    return struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + b"\x00" * 64


_SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>\n"
)
_HTML = b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"


def _jar() -> bytes:
    return zip_archive(
        [
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: A\r\n\r\n", zipfile.ZIP_DEFLATED),
            ("A.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x34", zipfile.ZIP_DEFLATED),
        ]
    )


def _docx_like() -> bytes:
    return zip_archive(
        [
            (
                "[Content_Types].xml",
                b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                b'<Override PartName="/word/document.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
                zipfile.ZIP_DEFLATED,
            ),
            ("_rels/.rels", b'<?xml version="1.0"?><Relationships/>', zipfile.ZIP_DEFLATED),
            ("word/document.xml", b'<?xml version="1.0"?><w:document/>', zipfile.ZIP_DEFLATED),
        ]
    )


def _gif_html_polyglot() -> bytes:
    # a real GIF header and trailer followed by markup a sniffing browser could render
    return gif() + b"<html><script>alert(1)</script></html>"


def _refused() -> dict[str, bytes]:
    return {
        "empty": b"",
        "elf": _elf(),
        "pe_exe": _pe(),
        "macho": _macho(),
        "shell_script": b"#!/bin/sh\nrm -rf --no-preserve-root /\n",
        "python_script": b"#!/usr/bin/env python3\nimport os\nos.system('id')\n",
        "html": _HTML,
        "html_named.pdf": b"<html><body>%PDF-1.4</body></html>\n",
        "svg": _SVG,
        "svg_named.png": _SVG,
        "xml": b'<?xml version="1.0" encoding="UTF-8"?>\n<facture><montant>12</montant></facture>\n',
        "javascript": b"'use strict';\nfetch('/api/v1/me').then(r => r.text()).then(console.log);\n",
        "plain_text": "Attestation de domicile, établie à Versailles.\n".encode(),
        "plain_zip": zip_archive([("a.txt", b"hello", zipfile.ZIP_DEFLATED)]),
        "zip_named.odt": zip_archive([("content.xml", _CONTENT_XML, zipfile.ZIP_DEFLATED)]),
        "docx_like_zip": _docx_like(),
        "jar": _jar(),
        "ods": odt(mimetype=b"application/vnd.oasis.opendocument.spreadsheet"),
        "odt_mimetype_deflated": odt(mimetype_compression=zipfile.ZIP_DEFLATED),
        "odt_without_content": zip_archive([("mimetype", ODT_MIMETYPE, zipfile.ZIP_STORED)]),
        "odt_mimetype_not_first": zip_archive(
            [
                ("content.xml", _CONTENT_XML, zipfile.ZIP_DEFLATED),
                ("mimetype", ODT_MIMETYPE, zipfile.ZIP_STORED),
            ]
        ),
        "xls_like_ole2": cfb({"Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00"}),
        "msi_like_ole2": cfb({"\u4840\u3b3f\u4577\u446c\u3b6a\u45e4\u4824": b"\x00"}),
        "ole2_with_nested_word": cfb(
            {"Workbook": b"\x09\x08\x10\x00"}, storages={"MBD0001": {"WordDocument": _fib()}}
        ),
        "pdf_without_eof": pdf()[:-7],
        "pdf_not_at_start": b"\n" + pdf(),
        "png_bad_crc": png()[:29] + b"\x00\x00\x00\x00" + png()[33:],
        "png_truncated": png()[:-12],
        "png_header_then_html": b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
        "gif_html_polyglot": _gif_html_polyglot(),
        "gif_js_header": b"GIF89a=1;alert(document.domain);//" + b"\x00" * 8,
        "jpeg_soi_then_html": b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>",
        "tiff_bad_ifd": b"II*\x00" + struct.pack("<I", 10**6) + b"\x00" * 16,
        "rtf_truncated": rtf()[:-3],
    }


ACCEPTED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "pdf": (pdf, ".pdf", "application/pdf"),
    "png": (png, ".png", "image/png"),
    "gif": (gif, ".gif", "image/gif"),
    "jpeg": (jpeg, ".jpg", "image/jpeg"),
    "tiff": (tiff, ".tif", "image/tiff"),
    "rtf": (rtf, ".rtf", "application/rtf"),
    "odt": (odt, ".odt", "application/vnd.oasis.opendocument.text"),
    "doc": (doc, ".doc", "application/msword"),
}

REFUSED: dict[str, bytes] = _refused()
