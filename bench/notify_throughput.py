"""Events -> emails per second, end to end, on this machine.

Starts an isolated environment (own vhost, own database, the real SMTP sink writing .eml
files, the notify service as a real process), publishes N events on the broker the way
identity does, and times until N .eml files exist. Also checks none was sent twice.

    PYTHONPATH=common:services/notify .venv/bin/python bench/notify_throughput.py [-n 500] [--sqlite]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import types
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in ("common", "services/notify"):
    sys.path.insert(0, str(ROOT / p))
warnings.filterwarnings("ignore")

from guichet_common import events  # noqa: E402
from guichet_common.testing.env import TestEnv, clean_stale  # noqa: E402
from nameko.standalone.events import event_dispatcher  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--sqlite", action="store_true", help="SQLite even when PostgreSQL answers")
    ap.add_argument("--log", action="store_true", help="print the end of the notify log")
    args = ap.parse_args()
    clean_stale()
    no_s3 = types.SimpleNamespace(endpoint="127.0.0.1:1", access_key="-", secret_key="-")  # notify needs none
    env = TestEnv("bench" + os.urandom(2).hex(), no_s3, use_pg=False if args.sqlite else None)  # type: ignore[arg-type]
    try:
        env.start_service("notify")
        dispatch = event_dispatcher(env.service_config("notify"))
        tag = os.urandom(3).hex()
        t0 = time.perf_counter()
        for i in range(args.n):
            dispatch("identity", events.ACCOUNT_REGISTERED, events.payload(
                account_id=f"{tag}{i:026d}", email=f"bench-{tag}-{i}@example.test", first_name="Anne",
                activation_url=f"http://127.0.0.1:8000/activation?token=t{i}"))
        t_pub = time.perf_counter() - t0
        while len(list(env.mail.dir.glob("*.eml"))) < args.n:
            if time.perf_counter() - t0 > 600:
                raise SystemExit("timed out")
            time.sleep(0.05)
        t_all = time.perf_counter() - t0
        msgs = env.mail.messages()
        dupes = sum(n - 1 for n in Counter(m["Message-ID"].strip() for m in msgs).values() if n > 1)
        db = "PostgreSQL" if env.use_pg else "SQLite"
        print(f"notify throughput ({db}, 1 notify process, {os.cpu_count()} CPUs, SMTP sink with fsync per message)")
        print(f"  events published      : {args.n} in {t_pub:.2f} s ({args.n / t_pub:.0f} events/s)")
        print(f"  emails written (.eml) : {len(msgs)} in {t_all:.2f} s after the first publish")
        print(f"  end to end            : {args.n / t_all:.1f} events -> emails per second")
        print(f"  duplicates            : {dupes}")
        if args.log:
            print(env.log_tail("notify", 4000))
    finally:
        env.close()


if __name__ == "__main__":
    main()
