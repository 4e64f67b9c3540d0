"""Sign-ins per second through the gateway, and the gateway's access-token verification cost.

    .venv/bin/python bench/identity_login.py [--seconds 10] [--threads 1,4] [--verifies 5000]

Starts its own isolated environment (vhost, SQLite databases, mail sink) and the identity
service as a real process, then drives the gateway's Flask app in-process (its RPC pool, real
broker). A sign-in is dominated by argon2id (RFC 9106 low-memory parameters: 64 MiB, t=3),
deliberately slow; verification is an Ed25519 signature check against the cached JWKS, done in
the gateway for every authenticated request without an RPC.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
for p in ("common", "gateway", "services/identity"):
    sys.path.insert(0, str(ROOT / p))
warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each sign-in run")
    parser.add_argument("--threads", default="1,4", help="concurrent clients, comma separated")
    parser.add_argument("--verifies", type=int, default=5000)
    args = parser.parse_args()

    from guichet_common.testing.env import TestEnv, clean_stale

    clean_stale()
    # Sign-ins need no object store: the environment only needs its address for wallet's config.
    no_s3 = SimpleNamespace(endpoint="127.0.0.1:1", access_key="none", secret_key="none")
    env = TestEnv("bench", no_s3, use_pg=False)  # type: ignore[arg-type]
    try:
        env.start_service("identity")
        app = env.gateway_app(TESTING=True)
        client = app.test_client()
        email, password = "agent@guichet.test", "AgentDemo2026!"
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.get_data(as_text=True)
        token = r.get_json()["access_token"]
        db = env.db_urls["identity"].split(":")[0]
        print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}, "
              f"database {db}")
        from argon2 import PasswordHasher

        hasher = PasswordHasher()
        stored = hasher.hash(password)
        t0 = time.perf_counter()
        for _ in range(5):
            hasher.verify(stored, password)
        print(f"argon2id verify alone (t={hasher.time_cost}, m={hasher.memory_cost} KiB, p={hasher.parallelism}): "
              f"{(time.perf_counter() - t0) / 5 * 1000:.0f} ms")

        for n in [int(x) for x in args.threads.split(",")]:
            durations: list[float] = []
            lock = threading.Lock()
            stop = time.monotonic() + args.seconds
            errors = []

            def worker(stop: float = stop, errors: list[int] = errors, lock: threading.Lock = lock,
                       durations: list[float] = durations) -> None:
                c = app.test_client()
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    resp = c.post("/api/v1/auth/login", json={"email": email, "password": password})
                    dt = time.perf_counter() - t0
                    if resp.status_code != 200:
                        errors.append(resp.status_code)
                        continue
                    with lock:
                        durations.append(dt)

            threads = [threading.Thread(target=worker) for _ in range(n)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
            durations.sort()
            p95 = durations[int(len(durations) * 0.95) - 1] if durations else float("nan")
            print(f"sign-ins, {n} client(s): {len(durations) / elapsed:.1f} logins/s over {elapsed:.1f} s "
                  f"(p50 {statistics.median(durations) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, errors {len(errors)})")

        verifier = app.extensions["guichet_verifier"]
        verifier.verify(token)  # warm the JWKS cache
        t0 = time.perf_counter()
        for _ in range(args.verifies):
            verifier.verify(token)
        per = (time.perf_counter() - t0) / args.verifies
        print(f"gateway token verification: {per * 1e6:.0f} µs per verify ({args.verifies} verifies, "
              f"{1 / per:.0f} verifies/s on one core)")
        with app.test_request_context():
            me = app.test_client()
            n_me = 300
            t0 = time.perf_counter()
            for _ in range(n_me):
                assert me.get("/api/v1/me", headers={"Authorization": "Bearer " + token}).status_code == 200
            print(f"GET /api/v1/me (verify + one RPC to identity): {(time.perf_counter() - t0) / n_me * 1000:.1f} ms per request")
        app.extensions["rpc"].close()
    finally:
        env.close()


if __name__ == "__main__":
    main()
