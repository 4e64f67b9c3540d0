"""Accepted document types, decided by content; display names."""

from __future__ import annotations

import importlib.util
import io
import random
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from guichet_wallet import formats
from guichet_wallet.formats import (
    ACCEPTED,
    HEAD_SIZE,
    Detected,
    UnsupportedFormat,
    download_name,
    safe_display_name,
    sniff,
)


def _load_samples():
    # loaded by path, the way the service's and gateway's tests will load it
    path = Path(__file__).with_name("samples.py")
    spec = importlib.util.spec_from_file_location("wallet_samples", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


samples = _load_samples()
MESSAGE = "Formats acceptés : .doc, .pdf, .rtf, .odt, .gif, .jpg, .jpeg, .png, .tif"


def test_accepted_list_and_message() -> None:
    assert ACCEPTED == (".doc", ".pdf", ".rtf", ".odt", ".gif", ".jpg", ".jpeg", ".png", ".tif")
    assert formats.ACCEPTED_MESSAGE == MESSAGE


@pytest.mark.parametrize("kind", list(samples.ACCEPTED))
def test_accepted_samples_every_calling_style(kind: str) -> None:
    builder, extension, content_type = samples.ACCEPTED[kind]
    data = builder()
    expected = Detected(kind, content_type, extension)
    assert extension in ACCEPTED
    assert sniff(data) == expected  # head is the whole file
    assert sniff(data[:HEAD_SIZE], data) == expected  # full bytes
    assert sniff(data[:HEAD_SIZE], lambda: data) == expected  # lazily
    assert sniff(b"", io.BytesIO(data)) == expected  # head read for us
    upload = io.BytesIO(data)
    head = upload.read(HEAD_SIZE)
    assert sniff(head, upload) == expected
    assert upload.tell() == len(head)  # position restored
    with tempfile.TemporaryFile() as spooled:
        spooled.write(data)
        spooled.seek(0)
        assert sniff(spooled.read(16), spooled) == expected
        assert spooled.tell() == 16


@pytest.mark.parametrize("name", list(samples.REFUSED))
def test_refused_samples(name: str) -> None:
    data = samples.REFUSED[name]
    with pytest.raises(UnsupportedFormat) as info:
        sniff(data[:HEAD_SIZE], io.BytesIO(data))
    assert MESSAGE in str(info.value)
    assert info.value.reason
    assert info.value.accepted == ACCEPTED


# Refused samples that start with an accepted signature: the structural check alone must
# refuse them, even if libmagic were fooled into agreeing with the signature.
STRUCTURAL = {
    "pdf_without_eof": "pdf",
    "png_bad_crc": "png",
    "png_truncated": "png",
    "png_header_then_html": "png",
    "gif_html_polyglot": "gif",
    "gif_js_header": "gif",
    "jpeg_soi_then_html": "jpeg",
    "tiff_bad_ifd": "tiff",
    "rtf_truncated": "rtf",
    "plain_zip": "odt",
    "zip_named.odt": "odt",
    "docx_like_zip": "odt",
    "jar": "odt",
    "ods": "odt",
    "odt_mimetype_deflated": "odt",
    "odt_without_content": "odt",
    "odt_mimetype_not_first": "odt",
    "xls_like_ole2": "doc",
    "msi_like_ole2": "doc",
    "ole2_with_nested_word": "doc",
}


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_checks_without_libmagic(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = STRUCTURAL[name]
    monkeypatch.setattr(formats, "_libmagic", lambda head: formats._MAGIC_OK[kind][0])
    with pytest.raises(UnsupportedFormat):
        sniff(samples.REFUSED[name])
    sniff(samples.ACCEPTED[kind][0]())  # and the genuine one still passes


def test_libmagic_disagreement_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_libmagic", lambda head: "text/html")
    with pytest.raises(UnsupportedFormat, match="Formats acceptés") as info:
        sniff(samples.pdf())
    assert "libmagic says text/html" in info.value.reason


def test_callable_is_called_once() -> None:
    calls = []

    def more() -> bytes:
        calls.append(1)
        return samples.odt()

    assert sniff(b"", more).kind == "odt"
    assert calls == [1]


def test_empty() -> None:
    for call in (lambda: sniff(b""), lambda: sniff(b"", b""), lambda: sniff(b"", io.BytesIO())):
        with pytest.raises(UnsupportedFormat, match="vide") as info:
            call()
        assert MESSAGE in str(info.value)


def test_client_name_and_type_are_irrelevant() -> None:
    # sniff never receives them: an SVG "photo.png" is refused, a PDF "photo.png" is a PDF
    assert sniff(samples.pdf()).extension == ".pdf"
    with pytest.raises(UnsupportedFormat):
        sniff(samples.REFUSED["svg_named.png"])


def test_head_must_match_content() -> None:
    with pytest.raises(ValueError):
        sniff(samples.pdf()[:100], samples.png())


# --- structural details -----------------------------------------------------------------


def test_pdf_eof_beyond_the_head_needs_the_whole_file() -> None:
    body = samples.pdf()
    big = body[:-6] + b"%" + b"x" * 50_000 + b"\n" + body[-6:]  # a long comment before the trailer
    assert sniff(big[:HEAD_SIZE], big).kind == "pdf"
    with pytest.raises(UnsupportedFormat):
        sniff(big[:HEAD_SIZE])  # head alone is taken as a (truncated) whole file


def test_pdf_version_line() -> None:
    with pytest.raises(UnsupportedFormat):
        sniff(b"%PDF-x.y\n" + samples.pdf()[9:])
    assert sniff(b"%PDF-2.0\n" + samples.pdf()[9:]).kind == "pdf"


def _png_with_ihdr(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    data = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + data + struct.pack(">I", zlib.crc32(b"IHDR" + data))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def test_png_dimensions_and_fields() -> None:
    assert sniff(samples.png(3, 2)).kind == "png"
    assert sniff(_png_with_ihdr(4000, 3000)).kind == "png"
    for bad in (_png_with_ihdr(0, 10), _png_with_ihdr(100_000, 100_000), _png_with_ihdr(10, 10, depth=3)):
        with pytest.raises(UnsupportedFormat):
            sniff(bad)


def test_png_iend_beyond_the_head() -> None:
    big = samples.png(400, 400)  # IDAT compresses well; make it larger than the head:
    big = big[:33] + struct.pack(">I", 20_000) + b"tEXt" + b"a" * 20_000 + b"\x00" * 4 + big[33:]
    # (a bogus-CRC ancillary chunk is not our business; the IEND trailer is)
    assert sniff(big[:HEAD_SIZE], io.BytesIO(big)).kind == "png"


def test_jpeg_with_large_app_segment() -> None:
    jpeg = samples.jpeg()
    exif = b"\xff\xe1" + struct.pack(">H", 60_002) + b"Exif\x00\x00" + b"\x00" * 59_994
    big = jpeg[:2] + exif + jpeg[2:]
    assert sniff(big[:HEAD_SIZE], io.BytesIO(big)).kind == "jpeg"


def test_jpeg_without_frame_header() -> None:
    jpeg = samples.jpeg()
    sof = jpeg.index(b"\xff\xc0")
    (length,) = struct.unpack(">H", jpeg[sof + 2 : sof + 4])
    with pytest.raises(UnsupportedFormat):
        sniff(jpeg[:sof] + jpeg[sof + 2 + length :])


def test_tiff_both_byte_orders() -> None:
    assert sniff(samples.tiff(big_endian=True)).kind == "tiff"
    assert sniff(samples.tiff(big_endian=False)).kind == "tiff"


def test_gif_without_image_or_trailer() -> None:
    gif = samples.gif()
    with pytest.raises(UnsupportedFormat):
        sniff(gif[:-1])
    with pytest.raises(UnsupportedFormat):
        sniff(gif[:13 + 6] + b"\x3b")  # screen + colour table + trailer, no image


def test_odt_template_is_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        sniff(samples.odt(mimetype=b"application/vnd.oasis.opendocument.text-template"))


@pytest.mark.parametrize(
    "mime", ["application/msword", "application/x-ole-storage", "application/CDFV2", "application/CDFV2-corrupt"]
)
def test_doc_when_libmagic_cannot_see_the_directory(mime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # in a real .doc the OLE2 directory is often beyond the head: libmagic then says only OLE2
    monkeypatch.setattr(formats, "_libmagic", lambda head: mime)
    assert sniff(samples.doc()).kind == "doc"


@pytest.mark.parametrize("mime", ["application/vnd.ms-excel", "application/x-msi", "application/vnd.ms-powerpoint"])
def test_doc_when_libmagic_says_another_office_format(mime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_libmagic", lambda head: mime)
    with pytest.raises(UnsupportedFormat):
        sniff(samples.doc())


def test_libmagic_on_a_head_without_the_ole2_directory() -> None:
    assert formats._libmagic(samples.doc()[:1024]) in formats._MAGIC_OK["doc"]


def test_doc_requires_a_fib() -> None:
    with pytest.raises(UnsupportedFormat):
        sniff(samples.cfb({"WordDocument": b"\x00\x00", "1Table": b"\x00"}))


def test_doc_broken_directory_chain() -> None:
    doc = bytearray(samples.doc())
    doc[48:52] = struct.pack("<I", 10_000)  # first directory sector outside the file
    with pytest.raises(UnsupportedFormat):
        sniff(bytes(doc))


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("facture.pdf", "facture.pdf"),
        ("C:\\fakepath\\Facture EDF.pdf", "Facture EDF.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/tmp/x/", "document"),
        ("", "document"),
        ("..", "document"),
        ("   ", "document"),
        ("\x00\x01\x7f", "document"),
        ("a\x00b\nc\td.pdf", "ab c d.pdf"),
        ("photo\u202egnp.exe", "photognp.exe"),  # right-to-left override removed
        ("e\u0301te\u0301.png", "été.png"),  # NFC
        ("  .cachée  ", "cachée"),
        ("<script>.pdf", "<script>.pdf"),  # display data: escaping is the template's job
    ],
)
def test_safe_display_name(raw: str, expected: str) -> None:
    assert safe_display_name(raw) == expected


def test_safe_display_name_length() -> None:
    name = safe_display_name("a" * 300 + ".pdf")
    assert len(name) == 120 and name.endswith("….pdf")
    name = safe_display_name("b" * 300)
    assert len(name) == 120 and name.endswith("…")
    assert len(safe_display_name("c" * 50, max_length=10)) == 10


def test_download_name_follows_the_content() -> None:
    pdf = sniff(samples.pdf())
    jpeg = sniff(samples.jpeg())
    assert download_name("facture.png", pdf) == "facture.pdf"
    assert download_name("facture.PDF", pdf) == "facture.PDF"
    assert download_name("facture", pdf) == "facture.pdf"
    assert download_name("photo.jpeg", jpeg) == "photo.jpeg"
    assert download_name("photo.tar.gz", jpeg) == "photo.tar.gz.jpg"
    assert download_name("../", pdf) == "document.pdf"


@pytest.mark.parametrize("kind", list(samples.ACCEPTED))
def test_mutated_samples_never_crash(kind: str) -> None:
    """Hostile bytes give a Detected or UnsupportedFormat, never another exception."""
    rng = random.Random(kind)
    base = samples.ACCEPTED[kind][0]()
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            if not data:
                break
            pos, op = rng.randrange(len(data)), rng.random()
            if op < 0.6:
                data[pos] = rng.randrange(256)
            elif op < 0.8:
                del data[pos : pos + rng.randint(1, 50)]
            else:
                data[pos:pos] = rng.randbytes(rng.randint(1, 50))
        try:
            detected = sniff(bytes(data[:HEAD_SIZE]), io.BytesIO(bytes(data)))
        except UnsupportedFormat:
            continue
        assert detected.extension in ACCEPTED
