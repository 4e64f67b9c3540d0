"""A real SMTP server for local runs and tests: each message becomes an .eml file.

`python -m guichet_common.mailsink --host 127.0.0.1 --port 8025 --dir var/mail`
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class EmlWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        tmp = self.directory / ("." + name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(self.directory / name)  # readers never see a half-written file
        return "250 Message accepted for delivery"


def start(host: str, port: int, directory: Path) -> Controller:
    controller = Controller(EmlWriter(directory), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    controller = start(args.host, args.port, Path(args.dir))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"mailsink listening on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
