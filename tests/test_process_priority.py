"""Services run at their CPU priority (guichet_common.serve.NICENESS): notify, which only
works behind events, yields the CPU to the services answering requests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from guichet_common.serve import NICENESS


def nice_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of proc(5), counted after the command name


def test_each_service_process_runs_at_its_priority(stack: Any) -> None:
    base = os.nice(0)  # the services inherit the test process's niceness
    seen = {svc: {nice_of(p.pid) for p in procs} for svc, procs in stack.procs.items()}
    assert set(seen) == set(NICENESS)
    for svc, values in seen.items():
        assert values == {base + NICENESS[svc]}, (svc, values)
    assert NICENESS["notify"] > 0 and NICENESS["demarches"] == NICENESS["identity"] == 0
