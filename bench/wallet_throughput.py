"""Wallet throughput and memory, side by side in one run on this machine.

    .venv/bin/python bench/wallet_throughput.py [--size-mb 2] [--rounds 20] [--big-mb 100]

Starts a throw-away stack (SeaweedFS, RabbitMQ vhost, identity + notify + wallet as real
processes), signs a citizen in, then prints:

1. upload + download of the same SIZE-MB PDF through the wallet RPC as the gateway makes
   it (MessagePack, raw bytes over the broker, STREAM AES-256-GCM, one S3 object per
   part), round after round; then the same in JSON + base64 (the previous transport);
2. the same bytes put/get straight to the S3 server with the minio client;
3. AES-256-GCM STREAM alone (encrypt + decrypt in memory);
4. peak RSS growth of the wallet process (Linux VmHWM, reset before each step) while a
   BIG-MB file goes in by chunked upload (1 MiB parts) and comes back part by part, with
   the upload limit raised for the run.

Throughput counts the bytes moved each way (2 x size per round). No assertion: figures.
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import random
import string
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in ("common", "services/wallet"):
    sys.path.insert(0, str(ROOT / p))
warnings.filterwarnings("ignore")

from guichet_common.config import PROCESS_ENV  # noqa: E402
from guichet_common.testing.env import S3Server, TestEnv  # noqa: E402
from guichet_wallet.crypto import decrypt_stream, encrypt_stream, generate_key  # noqa: E402
from minio import Minio  # noqa: E402

MiB = 1024 * 1024


def pdf_bytes(size: int) -> bytes:
    sys.path.insert(0, str(ROOT / "services/wallet/tests"))
    import samples  # type: ignore[import-not-found]

    text = "".join(random.choices(string.ascii_letters, k=size - 700))
    return samples.pdf(text)  # type: ignore[no-any-return]


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class Sampler:
    """Fallback peak tracker when VmHWM cannot be reset: samples VmRSS every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


def direct_rounds(s3: S3Server, data: bytes, rounds: int) -> float:
    import tempfile
    import uuid

    from guichet_common.auth import Caller
    from guichet_common.db import UnitOfWork, make_engine, migrate
    from guichet_wallet import documents as docs
    from guichet_wallet.crypto import MasterKeyring
    from guichet_wallet.objectstore import ObjectStore
    from sqlalchemy.orm import Session

    url = f"sqlite:///{tempfile.mkdtemp(prefix='wallet-bench-')}/wallet.db"
    migrate("wallet", url)
    engine = make_engine(url)
    store = ObjectStore(s3.endpoint, s3.access_key, s3.secret_key, "bench-direct")
    ring = MasterKeyring.generate("k1")
    cfg = {"MAX_UPLOAD_BYTES": len(data), "QUOTA_BYTES": 10 * 1024 * MiB}
    caller = Caller(id=uuid.uuid4().hex, email="bench@example.test")
    b64 = base64.b64encode(data).decode()

    def ctx() -> docs.Ctx:
        return docs.Ctx(UnitOfWork(Session(engine, expire_on_commit=False), None, None), store, ring, cfg)

    docs.read_document(ctx(), caller, docs.upload(ctx(), caller, "warm.pdf", b64)["id"])
    t0 = time.perf_counter()
    for _ in range(rounds):
        d = docs.upload(ctx(), caller, "bench.pdf", b64)
        got = docs.read_document(ctx(), caller, d["id"])
    elapsed = time.perf_counter() - t0
    assert base64.b64decode(got["content_b64"]) == data
    engine.dispose()
    return elapsed


def sign_in(env: TestEnv, rpc) -> str:  # type: ignore[no-untyped-def]
    addr = f"bench-{os.urandom(3).hex()}@example.test"
    rpc.identity.register(addr, "Versailles2026!", "Anne", "Martin")
    token = env.mail.token(addr, "activation", wait_s=30)
    rpc.identity.activate(token)
    return rpc.identity.login(addr, "Versailles2026!", "bench")["access_token"]  # type: ignore[no-any-return]


def main() -> int:
    if any(os.environ.get(k) != v for k, v in PROCESS_ENV.items()):
        # this process stands for the gateway: run it with the environment deployments give it
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PROCESS_ENV})
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    size = int(args.size_mb * MiB)
    data = pdf_bytes(size)
    size = len(data)
    b64 = base64.b64encode(data).decode()

    s3 = S3Server()
    env = TestEnv("bench", s3, use_pg=False)
    try:
        env.start_service("identity")
        env.start_service("notify")
        env.start_service("wallet", extra_env={"GUICHET_MAX_UPLOAD_BYTES": str((args.big_mb + 10) * MiB),
                                               "GUICHET_WALLET_QUOTA_BYTES": str(10 * 1024 * MiB)})
        pid = env.procs["wallet"][0].pid
        from guichet_common.config import RPC_SERIALIZATION
        from guichet_common.rpc import ClusterRpcProxy

        # what the gateway's RpcPool uses: MessagePack, file bytes as bytes
        binary = {"AMQP_URI": env.amqp_uri, **RPC_SERIALIZATION}
        with ClusterRpcProxy(binary, timeout=120) as rpc:
            token = sign_in(env, rpc)
            wallet = rpc.wallet
            doc = wallet.upload_document(token, "warm.pdf", data)  # warm-up: keys, connections
            wallet.read_document(token, doc["id"], raw=True)

            # --- 4 first, on a process that has only handled one small file
            big = args.big_mb * MiB
            part = 1024 * 1024
            block = data[:part] if size >= part else (data * (part // size + 1))[:part]
            big_head = pdf_bytes(part)[: part - 8]  # a PDF start ...
            tail = b"\n%%EOF\n"
            rss_before = rss_kib(pid, "VmRSS")
            can_reset = reset_peak(pid)
            with Sampler(pid) as sampler:
                t0 = time.perf_counter()
                up = wallet.begin_upload(token, "gros.pdf", None, None, None)
                n_parts = big // part
                for i in range(n_parts):
                    chunk = big_head[:part] if i == 0 else block
                    if i == n_parts - 1:
                        chunk = block[: part - len(tail)] + tail
                    wallet.upload_part(token, up["upload_id"], i, chunk[:part])
                big_doc = wallet.finish_upload(token, up["upload_id"], None, None)
                t_up = time.perf_counter() - t0
            peak_up = (rss_kib(pid, "VmHWM") if can_reset else sampler.peak) - rss_before
            rss_before_dl = rss_kib(pid, "VmRSS")
            can_reset = reset_peak(pid)
            with Sampler(pid) as sampler:
                t0 = time.perf_counter()
                for i in range(big_doc["parts"]):
                    wallet.read_document_part(token, big_doc["id"], i, raw=True)
                t_dl = time.perf_counter() - t0
            peak_dl = (rss_kib(pid, "VmHWM") if can_reset else sampler.peak) - rss_before_dl

            # --- 1 wallet RPC, MessagePack + raw bytes
            t0 = time.perf_counter()
            for _ in range(args.rounds):
                d = wallet.upload_document(token, "bench.pdf", data)
                got = wallet.read_document(token, d["id"], raw=True)
            t_wallet = time.perf_counter() - t0
            assert got["content"] == data

            # --- transport floor: the same bytes sent to the wallet, refused at once (bad
            # token) before any crypto or S3: broker + MessagePack only
            from nameko.exceptions import RemoteError

            t0 = time.perf_counter()
            for _ in range(args.rounds):
                try:
                    wallet.upload_document("not-a-token", "bench.pdf", data)
                except RemoteError:
                    pass
            t_floor = time.perf_counter() - t0

        # --- 1c the same in JSON + base64 (the transport before MessagePack; the wallet
        # still answers it, in JSON)
        with ClusterRpcProxy({"AMQP_URI": env.amqp_uri, "serializer": "json"}, timeout=120) as rpc2:
            t0 = time.perf_counter()
            for _ in range(args.rounds):
                d = rpc2.wallet.upload_document(token, "bench.pdf", b64)
                got = rpc2.wallet.read_document(token, d["id"])
            t_json = time.perf_counter() - t0
            assert base64.b64decode(got["content_b64"]) == data

        # --- 2 raw S3
        client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False,
                       region="us-east-1")
        bucket = "bench-raw"
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        t0 = time.perf_counter()
        for i in range(args.rounds):
            client.put_object(bucket, f"o{i}", io.BytesIO(data), length=size)
            resp = client.get_object(bucket, f"o{i}")
            raw = resp.read()
            resp.close()
            resp.release_conn()
        t_s3 = time.perf_counter() - t0
        assert raw == data

        # --- 2b raw S3 the way the wallet moves an object: 1 MiB parts, side by side
        from concurrent.futures import ThreadPoolExecutor

        part = 1024 * 1024
        pieces = [data[i:i + part] for i in range(0, size, part)]

        def put_piece(args: tuple[str, bytes]) -> None:
            client.put_object(bucket, args[0], io.BytesIO(args[1]), length=len(args[1]))

        def get_piece(name: str) -> bytes:
            resp = client.get_object(bucket, name)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        with ThreadPoolExecutor(4) as pool:
            t0 = time.perf_counter()
            for i in range(args.rounds):
                names = [f"p{i}/{k}" for k in range(len(pieces))]
                list(pool.map(put_piece, zip(names, pieces, strict=True)))
                raw = b"".join(pool.map(get_piece, names))
            t_s3_parts = time.perf_counter() - t0
        assert raw == data

        # --- 1b the wallet's own code (sniff, hash, keys, AES-GCM, S3, SQLite), called
        # in-process: what the wallet costs on top of S3, without the broker
        t_direct = direct_rounds(s3, data, args.rounds)

        # --- 3 AES-GCM alone
        key = generate_key()
        t0 = time.perf_counter()
        for _ in range(args.rounds):
            sealed = b"".join(encrypt_stream(key, "bench/0", data))
            plain = b"".join(decrypt_stream(key, "bench/0", sealed))
        t_aes = time.perf_counter() - t0
        assert plain == data
    finally:
        env.close()
        s3.stop()

    moved = 2 * size * args.rounds / MiB
    w, r, a = moved / t_wallet, moved / t_s3, moved / t_aes
    print(f"\n{args.rounds} rounds of upload + download of a {size / MiB:.2f} MiB PDF ({moved:.0f} MiB moved)")
    print(f"{'path':<44}{'MiB/s':>10}{'ms/round':>12}{'vs raw S3':>12}")
    print(f"{'wallet RPC, msgpack (broker + AES-GCM + S3)':<44}{w:>10.1f}{1000 * t_wallet / args.rounds:>12.1f}{w / r:>11.0%}")
    print(f"{'  of which: the upload message alone':<44}{(moved / 2) / t_floor:>10.1f}"
          f"{1000 * t_floor / args.rounds:>12.1f}{'':>12}")
    jr = moved / t_json
    print(f"{'wallet RPC, JSON + base64 (before)':<44}{jr:>10.1f}{1000 * t_json / args.rounds:>12.1f}{jr / r:>11.0%}")
    dr = moved / t_direct
    print(f"{'wallet code in-process (no broker)':<44}{dr:>10.1f}{1000 * t_direct / args.rounds:>12.1f}{dr / r:>11.0%}")
    print(f"{'raw S3 put/get (minio client)':<44}{r:>10.1f}{1000 * t_s3 / args.rounds:>12.1f}{1:>11.0%}")
    rp = moved / t_s3_parts
    print(f"{'raw S3 in 1 MiB parts side by side':<44}{rp:>10.1f}{1000 * t_s3_parts / args.rounds:>12.1f}"
          f"{rp / r:>11.0%}")
    print(f"{'AES-256-GCM STREAM alone (enc + dec)':<44}{a:>10.1f}{1000 * t_aes / args.rounds:>12.1f}{a / r:>11.0%}")
    print(f"\n{args.big_mb} MiB file through the wallet in 1 MiB parts (limit raised):")
    print(f"  upload   {args.big_mb / t_up:7.1f} MiB/s   wallet peak RSS growth {peak_up / 1024:6.1f} MiB")
    print(f"  download {args.big_mb / t_dl:7.1f} MiB/s   wallet peak RSS growth {peak_dl / 1024:6.1f} MiB")
    print(f"  (peak from {'VmHWM after reset' if can_reset else 'RSS sampled every 20 ms'}; goal < 64 MiB)")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"\ngoal: wallet >= 70 % of raw S3 -> through the broker {'met' if w / r >= 0.7 else 'NOT met'} ({w / r:.0%}),"
          f" wallet code alone {'met' if dr / r >= 0.7 else 'NOT met'} ({dr / r:.0%});"
          f" against raw S3 moved in parts side by side as the wallet does: {w / rp:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
