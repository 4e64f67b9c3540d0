"""Gateway -> service RPC round trip through the gateway's proxy pool.

Starts its own isolated environment (real broker vhost, services as processes), then
times N sequential `health` calls and N calls from 8 threads. Prints p50/p95 and calls/s.
Run: PYTHONPATH=common:services/identity:services/demarches:services/wallet:services/notify:gateway \
     .venv/bin/python bench/foundation_rpc.py [N]
"""
from __future__ import annotations

import statistics
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore")

from guichet_common.testing.env import S3Server, TestEnv  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    s3 = S3Server()
    env = TestEnv("bench", s3, use_pg=False)
    try:
        env.start_service("demarches")
        app = env.gateway_app()
        pool = app.extensions["rpc"]
        for _ in range(50):
            pool.call("demarches", "health")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            pool.call("demarches", "health")
            times.append((time.perf_counter() - t) * 1000)
        print(f"sequential RPC gateway->demarches.health: n={n} p50={statistics.median(times):.2f} ms "
              f"p95={pct(times, 0.95):.2f} ms")
        per_thread = n // 8
        lat: list[float] = []

        def worker() -> None:
            for _ in range(per_thread):
                t = time.perf_counter()
                pool.call("demarches", "health")
                lat.append((time.perf_counter() - t) * 1000)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t0
        print(f"8 threads: {len(lat) / elapsed:.0f} calls/s, p50={statistics.median(lat):.2f} ms p95={pct(lat, 0.95):.2f} ms")
        client = app.test_client()
        t = time.perf_counter()
        for _ in range(200):
            client.get("/healthz")
        print(f"/healthz (4 RPCs in parallel) in-process: {(time.perf_counter() - t) / 200 * 1000:.2f} ms per request")
        pool.close()
    finally:
        env.close()
        s3.stop()


if __name__ == "__main__":
    main()
