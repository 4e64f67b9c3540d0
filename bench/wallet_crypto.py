"""Micro-benchmark of the wallet's streaming encryption (guichet_wallet.crypto).

    PYTHONPATH=common:services/wallet .venv/bin/python bench/wallet_crypto.py [--sizes-mb 2 100]

Prints MiB/s for encrypt and decrypt of each stream size, then the memory held while
streaming the largest one (peak Python allocations with tracemalloc, and the process's
peak RSS growth from getrusage), to show memory does not grow with the object size.
The plaintext comes from a generator and the output is discarded or streamed: no copy
of the whole object is ever made.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "wallet"))

from guichet_wallet.crypto import (  # noqa: E402
    DEFAULT_SEGMENT_SIZE,
    ciphertext_length,
    decrypt_stream,
    encrypt_stream,
    generate_key,
)

MiB = 1024 * 1024


BLOCK = os.urandom(MiB)  # the plaintext source repeats this block, 1 MiB per read


def source(total: int) -> Iterator[bytes]:
    block, chunk = BLOCK, len(BLOCK)
    sent = 0
    while sent < total:
        piece = block if total - sent >= chunk else block[: total - sent]
        sent += len(piece)
        yield piece


def file_chunks(path: str, chunk: int = MiB) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while data := handle.read(chunk):
            yield data


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench(size: int, segment_size: int, runs: int) -> None:
    dek = generate_key()
    with tempfile.NamedTemporaryFile(prefix="wallet-bench-", delete=False) as out:
        path = out.name
        for chunk in encrypt_stream(dek, "bench", source(size), segment_size):
            out.write(chunk)
    try:
        assert os.path.getsize(path) == ciphertext_length(size, segment_size)

        def encrypt() -> None:
            for _ in encrypt_stream(dek, "bench", source(size), segment_size):
                pass

        def decrypt() -> None:
            total = 0
            for chunk in decrypt_stream(dek, "bench", file_chunks(path)):
                total += len(chunk)
            assert total == size

        enc = best_of(runs, encrypt)
        dec = best_of(runs, decrypt)
        print(
            f"{size / 1e6:5.0f} MB ({size / MiB:5.1f} MiB)  segment {segment_size // 1024:4d} KiB   "
            f"encrypt {size / MiB / enc:8.0f} MiB/s   decrypt (from disk) {size / MiB / dec:8.0f} MiB/s"
        )
    finally:
        os.unlink(path)


def memory(size: int, segment_size: int) -> None:
    dek = generate_key()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    total = 0
    for chunk in decrypt_stream(dek, "bench", encrypt_stream(dek, "bench", source(size), segment_size)):
        total += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert total == size
    print(
        f"memory, {size / 1e6:.0f} MB encrypt->decrypt pipeline: tracemalloc peak {peak / 1024:.0f} KiB, "
        f"peak RSS growth {(rss_after - rss_before) / 1024:.1f} MiB (source and sink chunks are 1 MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[2, 100])
    parser.add_argument("--segment-kb", type=int, nargs="+", default=[DEFAULT_SEGMENT_SIZE // 1024])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(mb * 1_000_000) for mb in args.sizes_mb]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
    memory(max(sizes), args.segment_kb[0] * 1024)  # first, while the process's peak RSS is still low
    for segment_kb in args.segment_kb:
        for size in sizes:
            bench(size, segment_kb * 1024, args.runs)


if __name__ == "__main__":
    main()
