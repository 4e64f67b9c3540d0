"""Envelope encryption: STREAM segments, tamper detection, key wrapping and rotation."""

from __future__ import annotations

import base64
import io
import random
import struct
import tracemalloc
from collections.abc import Iterator

import pytest
from guichet_wallet.crypto import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    TAG_SIZE,
    EncryptingReader,
    IntegrityError,
    MasterKeyring,
    UnknownKeyError,
    ciphertext_length,
    decrypt_stream,
    encrypt_stream,
    generate_key,
    new_data_key,
    new_owner_key,
    open_data_key,
    owner_key_context,
    plaintext_length,
    unwrap_key,
    wrap_key,
)

S = DEFAULT_SEGMENT_SIZE
DEK = bytes(range(32))


def payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def encrypt(data: bytes, object_id: str = "obj-1", dek: bytes = DEK, segment_size: int = S) -> bytes:
    return b"".join(encrypt_stream(dek, object_id, io.BytesIO(data), segment_size))


def decrypt(blob: bytes, object_id: str = "obj-1", dek: bytes = DEK) -> bytes:
    return b"".join(decrypt_stream(dek, object_id, [blob]))


def segments(blob: bytes, segment_size: int = S) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_SIZE:]
    step = segment_size + TAG_SIZE
    return blob[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


def generated(total: int, chunk: int = 10_000) -> Iterator[bytes]:
    """A generator source: never holds the whole file."""
    block = payload(chunk, seed=7)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


class ShortReads:
    """A .read(n) source that returns at most 7 bytes per call, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 7) if n >= 0 else 7)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", [0, 1, S - 1, S, S + 1, 2 * S, 3 * S - 5])
def test_round_trip_sizes(size: int) -> None:
    data = payload(size)
    blob = encrypt(data)
    assert len(blob) == ciphertext_length(size) == HEADER_SIZE + size + TAG_SIZE * max(1, -(-size // S))
    assert plaintext_length(len(blob)) == size
    assert decrypt(blob) == data
    assert size < 16 or data[:16] not in blob


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000])
def test_round_trip_small_segments(size: int) -> None:
    data = payload(size)
    blob = encrypt(data, segment_size=100)
    assert len(blob) == ciphertext_length(size, 100)
    assert plaintext_length(len(blob), 100) == size
    # decrypt from 1-byte chunks, from a reader, and from uneven chunks
    assert b"".join(decrypt_stream(DEK, "obj-1", (blob[i : i + 1] for i in range(len(blob))))) == data
    assert b"".join(decrypt_stream(DEK, "obj-1", ShortReads(blob))) == data
    cuts = sorted(random.Random(size).sample(range(len(blob)), min(5, len(blob))))
    pieces = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=True)]
    assert b"".join(decrypt_stream(DEK, "obj-1", pieces)) == data


def test_empty_file_is_one_empty_final_segment() -> None:
    blob = encrypt(b"")
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    assert list(decrypt_stream(DEK, "obj-1", [blob])) == []


def test_exact_multiple_has_no_extra_segment() -> None:
    blob = encrypt(payload(2 * S))
    _, segs = segments(blob)
    assert [len(s) for s in segs] == [S + TAG_SIZE, S + TAG_SIZE]


def test_five_megabytes_from_generator_source_and_sink() -> None:
    total = 5 * 1024 * 1024 + 123
    plain = encrypt_stream(DEK, "big", generated(total))
    out_len = 0
    expected = generated(total)
    buffer = b""
    for chunk in decrypt_stream(DEK, "big", plain):  # encrypt -> decrypt pipeline, nothing stored
        buffer += chunk
        while len(buffer) >= 10_000:
            assert buffer[:10_000] == next(expected)
            buffer = buffer[10_000:]
        out_len += len(chunk)
    assert out_len == total
    assert buffer == next(expected)


def test_pipeline_memory_is_bounded() -> None:
    total = 8 * 1024 * 1024
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in decrypt_stream(DEK, "big", encrypt_stream(DEK, "big", generated(total, 64 * 1024))):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak} bytes for an 8 MiB stream"


def test_encryption_is_lazy() -> None:
    produced = 0

    def source() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(1000):
            produced += 4096
            yield b"x" * 4096

    stream = encrypt_stream(DEK, "lazy", source())
    assert produced == 0
    next(stream)  # header
    next(stream)  # first segment: needs the second one as look-ahead
    assert produced <= 2 * S + 4096


def test_sources_bytes_reader_iterable_and_short_reads() -> None:
    data = payload(3 * S + 17)
    expected = decrypt(encrypt(data))
    for source in (data, bytearray(data), io.BytesIO(data), ShortReads(data), iter([data[:5], b"", data[5:]])):
        assert decrypt(b"".join(encrypt_stream(DEK, "obj-1", source))) == expected


def test_nonce_prefix_is_random_per_encryption() -> None:
    a, b = encrypt(b"same"), encrypt(b"same")
    assert a != b and a[1:8] != b[1:8]


def test_header_layout() -> None:
    blob = encrypt(b"abc", segment_size=4096)
    assert blob[0] == 1
    assert struct.unpack(">I", blob[8:12])[0] == 4096


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dek": b"short"},
        {"object_id": ""},
        {"segment_size": 0},
        {"segment_size": MAX_SEGMENT_SIZE + 1},
    ],
)
def test_bad_arguments_fail_eagerly(kwargs: dict) -> None:
    args = {"dek": DEK, "object_id": "o", "src": b"data", "segment_size": S, **kwargs}
    with pytest.raises(ValueError):
        encrypt_stream(**args)  # no iteration needed


def test_lengths() -> None:
    assert ciphertext_length(0) == HEADER_SIZE + TAG_SIZE
    assert ciphertext_length(S) == HEADER_SIZE + S + TAG_SIZE
    assert ciphertext_length(S + 1) == HEADER_SIZE + S + 1 + 2 * TAG_SIZE
    for bad in (0, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1, HEADER_SIZE + S + TAG_SIZE + 5):
        with pytest.raises(ValueError):
            plaintext_length(bad)
    with pytest.raises(ValueError):
        ciphertext_length(-1)


# --------------------------------------------------------------------------- EncryptingReader


@pytest.mark.parametrize("size", [0, 1, S, 3 * S + 1])
def test_encrypting_reader(size: int) -> None:
    data = payload(size)
    reader = EncryptingReader(DEK, "obj-1", io.BytesIO(data))
    assert reader.readable()
    pieces = []
    rng = random.Random(size)
    while True:
        piece = reader.read(rng.randint(1, 3 * S))
        assert isinstance(piece, bytes)
        if not piece:
            break
        pieces.append(piece)
    blob = b"".join(pieces)
    assert len(blob) == ciphertext_length(size) == reader.bytes_read
    assert decrypt(blob) == data
    assert reader.read(10) == b""


def test_encrypting_reader_like_minio_unknown_length() -> None:
    """minio.put_object(length=-1, part_size=P) reads P + 1 bytes per part until short."""
    data = payload(5 * 1024 * 1024 + 3)
    part_size = 5 * 1024 * 1024
    reader = EncryptingReader(DEK, "obj-1", io.BytesIO(data))
    parts, one_byte = [], b""
    while True:
        part = one_byte
        while len(part) < part_size + 1:
            more = reader.read(part_size + 1 - len(part))
            if not more:
                break
            part += more
        if len(part) <= part_size:
            parts.append(part)
            break
        one_byte, part = part[-1:], part[:-1]
        parts.append(part)
    assert len(parts) == 2
    assert decrypt(b"".join(parts)) == data


def test_encrypting_reader_read_all_and_close() -> None:
    with EncryptingReader(DEK, "obj-1", b"hello") as reader:
        assert decrypt(reader.read()) == b"hello"
    assert reader.closed


# --------------------------------------------------------------------------- tampering

SMALL = 100  # segment size for tamper tests: 4 segments of 100 + a last one of 50
DATA = payload(450, seed=3)


@pytest.fixture
def blob() -> bytes:
    return encrypt(DATA, segment_size=SMALL)


def small_segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    return segments(blob, SMALL)


def assert_rejected(blob: bytes, object_id: str = "obj-1", dek: bytes = DEK) -> None:
    with pytest.raises(IntegrityError):
        b"".join(decrypt_stream(dek, object_id, [blob]))


def test_untampered_fixture_decrypts(blob: bytes) -> None:
    assert decrypt(blob) == DATA


def test_every_single_bit_flip_is_detected(blob: bytes) -> None:
    rng = random.Random(1)
    positions = list(range(HEADER_SIZE)) + rng.sample(range(HEADER_SIZE, len(blob)), 60) + [len(blob) - 1]
    for pos in positions:
        tampered = bytearray(blob)
        tampered[pos] ^= 1 << rng.randrange(8)
        assert_rejected(bytes(tampered))


@pytest.mark.parametrize("cut", [0, 1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 15, HEADER_SIZE + SMALL + TAG_SIZE])
def test_truncation_from_the_start_of_the_body(blob: bytes, cut: int) -> None:
    assert_rejected(blob[:cut])


def test_truncation_at_every_segment_boundary_and_inside(blob: bytes) -> None:
    header, segs = small_segments(blob)
    for keep in range(1, len(segs)):
        assert_rejected(header + b"".join(segs[:keep]))  # drop the final segment(s)
    assert_rejected(blob[:-1])
    assert_rejected(blob[:-TAG_SIZE])


def test_truncation_raises_after_earlier_segments_were_released(blob: bytes) -> None:
    header, segs = small_segments(blob)
    out = []
    with pytest.raises(IntegrityError):
        for chunk in decrypt_stream(DEK, "obj-1", [header + b"".join(segs[:3])]):
            out.append(chunk)
    assert b"".join(out) == DATA[:200]  # documented: the consumer must discard these


def test_appending_is_detected(blob: bytes) -> None:
    header, segs = small_segments(blob)
    assert_rejected(blob + b"\x00")
    assert_rejected(blob + segs[-1])
    assert_rejected(blob + encrypt(b"more", segment_size=SMALL)[HEADER_SIZE:])


def test_reordering_and_duplication_are_detected(blob: bytes) -> None:
    header, segs = small_segments(blob)
    assert_rejected(header + segs[1] + segs[0] + b"".join(segs[2:]))
    assert_rejected(header + segs[0] + segs[0] + b"".join(segs[2:]))
    assert_rejected(header + b"".join(segs[:-1]) + segs[2] + segs[-1])  # one extra middle segment
    assert_rejected(header + b"".join(segs[1:]))  # first dropped


def test_segments_from_another_object_are_rejected(blob: bytes) -> None:
    header, segs = small_segments(blob)
    other = encrypt(DATA, object_id="obj-2", segment_size=SMALL)
    other_header, other_segs = small_segments(other)
    assert_rejected(header + other_segs[0] + b"".join(segs[1:]))
    assert_rejected(other_header + b"".join(segs))  # header swapped
    # same object id, same key, another encryption: different nonce prefix
    again_header, again_segs = small_segments(encrypt(DATA, segment_size=SMALL))
    assert_rejected(header + again_segs[0] + b"".join(segs[1:]))
    assert_rejected(again_header + b"".join(segs))


def test_wrong_object_id_or_key(blob: bytes) -> None:
    assert_rejected(blob, object_id="obj-2")
    assert_rejected(blob, object_id="obj-1 ")
    assert_rejected(blob, dek=generate_key())


def test_header_fields_are_checked(blob: bytes) -> None:
    # version
    assert_rejected(b"\x02" + blob[1:])
    # a forged huge segment size is refused before anything is buffered
    forged = blob[:8] + struct.pack(">I", 2**31) + blob[HEADER_SIZE:]
    with pytest.raises(IntegrityError, match="segment size"):
        b"".join(decrypt_stream(DEK, "obj-1", [forged]))
    # a different but allowed segment size changes the AAD
    assert_rejected(blob[:8] + struct.pack(">I", SMALL + 1) + blob[HEADER_SIZE:])
    assert_rejected(blob[:8] + struct.pack(">I", len(blob)) + blob[HEADER_SIZE:])


def test_empty_final_segment_after_full_segments_is_rejected() -> None:
    # only the key holder could forge this; the format stays canonical anyway
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = bytes([1]) + b"\x00" * 7 + struct.pack(">I", 4)
    aad = header + b"o"
    aead = AESGCM(DEK)
    seg0 = aead.encrypt(b"\x00" * 7 + struct.pack(">I", 0) + b"\x00", b"abcd", aad)
    seg1 = aead.encrypt(b"\x00" * 7 + struct.pack(">I", 1) + b"\x01", b"", aad)
    with pytest.raises(IntegrityError):
        b"".join(decrypt_stream(DEK, "o", [header + seg0 + seg1]))


# --------------------------------------------------------------------------- key wrapping


def test_wrap_unwrap() -> None:
    kek, key = generate_key(), generate_key()
    wrapped = wrap_key(kek, key, "ctx")
    assert len(wrapped) == 1 + 12 + 32 + 16
    assert unwrap_key(kek, wrapped, "ctx") == key
    assert wrap_key(kek, key, "ctx") != wrapped  # random nonce
    assert key not in wrapped


def test_unwrap_failures() -> None:
    kek, key = generate_key(), generate_key()
    wrapped = wrap_key(kek, key, "owner/1")
    for bad in (
        lambda: unwrap_key(kek, wrapped, "owner/2"),
        lambda: unwrap_key(generate_key(), wrapped, "owner/1"),
        lambda: unwrap_key(kek, wrapped[:-1], "owner/1"),
        lambda: unwrap_key(kek, wrapped[:20] + bytes([wrapped[20] ^ 1]) + wrapped[21:], "owner/1"),
        lambda: unwrap_key(kek, b"\x02" + wrapped[1:], "owner/1"),
        lambda: unwrap_key(kek, b"", "owner/1"),
    ):
        with pytest.raises(IntegrityError):
            bad()
    with pytest.raises(ValueError):
        wrap_key(b"short", key, "c")
    with pytest.raises(ValueError):
        wrap_key(kek, key, "")


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_keyring_from_secret() -> None:
    k1, k2 = generate_key(), generate_key()
    ring = MasterKeyring.from_secret(f"2024:{b64(k1)},2025:{b64(k2)}\n")
    assert ring.current_id == "2025"
    assert ring.key_ids == ("2024", "2025")
    # newline / space separated, url-safe base64 without padding
    urlsafe = base64.urlsafe_b64encode(k1).decode().rstrip("=")
    ring2 = MasterKeyring.from_secret(f"  a:{urlsafe}\n b:{b64(k2)} ")
    assert ring2.current_id == "b"
    assert ring2.unwrap(MasterKeyring({"a": k1}, "a").wrap(b"k" * 32, "c"), "c") == b"k" * 32
    assert MasterKeyring.from_secret(ring.to_secret()).to_secret() == ring.to_secret()
    assert b64(k1) not in repr(ring) and b64(k2) not in repr(ring)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "   ",
        "nokey",
        "a:",
        ":QUJD",
        "a:not-base64!!",
        "a:" + b64(b"x" * 16),
        "a:{k},a:{k}",
        "bad id:{k}",
        "é:{k}",
    ],
)
def test_keyring_bad_secrets(secret: str) -> None:
    with pytest.raises(ValueError) as info:
        MasterKeyring.from_secret(secret.format(k=b64(b"k" * 32)))
    assert b64(b"k" * 32) not in str(info.value)


def test_keyring_generate_and_wrap_records_the_key_id() -> None:
    ring = MasterKeyring.generate("k1")
    assert ring.current_id == "k1"
    wrapped = ring.wrap(b"o" * 32, "owner/1")
    assert MasterKeyring.key_id_of(wrapped) == "k1"
    assert not ring.needs_rewrap(wrapped)
    assert ring.unwrap(wrapped, "owner/1") == b"o" * 32
    with pytest.raises(IntegrityError):
        ring.unwrap(wrapped, "owner/2")
    with pytest.raises(IntegrityError):
        ring.unwrap(b"\x01", "owner/1")
    assert MasterKeyring.generate().current_id.startswith("mk-")


def test_rotation_rewraps_owner_keys_without_touching_objects() -> None:
    ring1 = MasterKeyring.generate("k1")
    owner_key, wrapped_owner = new_owner_key(ring1, "alice")
    dek, wrapped_dek = new_data_key(owner_key, "alice", "doc-1")
    obj = b"".join(encrypt_stream(dek, "doc-1", b"passeport"))

    ring2 = ring1.with_new_key("k2")
    assert ring2.current_id == "k2" and ring2.key_ids == ("k1", "k2")
    assert ring2.needs_rewrap(wrapped_owner)
    rewrapped = ring2.rewrap(wrapped_owner, owner_key_context("alice"))
    assert MasterKeyring.key_id_of(rewrapped) == "k2" and not ring2.needs_rewrap(rewrapped)

    ring3 = MasterKeyring.from_secret(ring2.without_key("k1").to_secret())
    assert ring3.key_ids == ("k2",)
    dek_again = open_data_key(ring3, rewrapped, wrapped_dek, "alice", "doc-1")
    assert b"".join(decrypt_stream(dek_again, "doc-1", [obj])) == b"passeport"  # same object bytes
    with pytest.raises(UnknownKeyError):
        ring3.unwrap(wrapped_owner, owner_key_context("alice"))  # old wrap, retired key
    with pytest.raises(UnknownKeyError):
        ring1.unwrap(rewrapped, owner_key_context("alice"))  # old deployment, new wrap
    with pytest.raises(ValueError):
        ring2.without_key("k2")
    with pytest.raises(ValueError):
        ring2.with_new_key("k1")


def test_wrapped_keys_are_bound_to_owner_and_object() -> None:
    ring = MasterKeyring.generate()
    alice_key, alice_wrapped = new_owner_key(ring, "alice")
    _, bob_wrapped = new_owner_key(ring, "bob")
    _, wrapped_dek = new_data_key(alice_key, "alice", "doc-1")
    assert open_data_key(ring, alice_wrapped, wrapped_dek, "alice", "doc-1")
    with pytest.raises(IntegrityError):
        open_data_key(ring, alice_wrapped, wrapped_dek, "alice", "doc-2")  # DEK row moved
    with pytest.raises(IntegrityError):
        open_data_key(ring, alice_wrapped, wrapped_dek, "bob", "doc-1")  # owner key of another
    with pytest.raises(IntegrityError):
        open_data_key(ring, bob_wrapped, wrapped_dek, "bob", "doc-1")


def test_crypto_shredding() -> None:
    ring = MasterKeyring.generate()
    owner_key, _wrapped_owner = new_owner_key(ring, "alice")
    dek, wrapped_dek = new_data_key(owner_key, "alice", "doc-1")
    obj = b"".join(encrypt_stream(dek, "doc-1", b"avis d'imposition"))
    del owner_key, _wrapped_owner  # the account is erased: the wrapped owner key row is deleted
    _, new_wrapped_owner = new_owner_key(ring, "alice")  # even if the same id comes back
    with pytest.raises(IntegrityError):
        open_data_key(ring, new_wrapped_owner, wrapped_dek, "alice", "doc-1")
    with pytest.raises(IntegrityError):
        b"".join(decrypt_stream(generate_key(), "doc-1", [obj]))


def test_generate_key() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(k) == 32 for k in keys)


def test_decrypt_bad_arguments_fail_eagerly() -> None:
    with pytest.raises(ValueError):
        decrypt_stream(b"short", "o", [b""])
    with pytest.raises(ValueError):
        decrypt_stream(DEK, "", [b""])
    with pytest.raises(TypeError):
        decrypt_stream(DEK, "o", 42)  # type: ignore[arg-type]
