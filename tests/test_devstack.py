"""Local stacks do not pile up vhosts on the shared broker: idle ones of other stacks are
pruned, busy or recent ones are kept."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import kombu
import requests
from guichet_common import devstack
from guichet_common.testing.env import BROKER

API = "http://127.0.0.1:15672/api/vhosts/"


def _exists(name):
    return requests.get(API + name, auth=("guest", "guest"), timeout=10).status_code == 200


def _make(name, description):
    devstack.ensure_vhost(BROKER.rstrip("/") + "/" + name, description)


def test_idle_vhosts_of_other_stacks_are_pruned_busy_and_recent_ones_kept(tmp_path):
    tag = f"{os.getpid()}{os.urandom(2).hex()}"
    old = json.dumps({"mark": devstack.STACK_MARK, "var": str(tmp_path), "started": int(time.time()) - 3600})
    names = {k: f"guichet_prune{k}_{tag}" for k in ("idle", "recent", "unmarked", "busy", "mine")}
    _make(names["idle"], old)
    _make(names["recent"], devstack.stack_description(Path(tmp_path)))
    _make(names["unmarked"], "")
    _make(names["busy"], old)
    _make(names["mine"], old)
    conn = kombu.Connection(BROKER.rstrip("/") + "/" + names["busy"])
    conn.connect()
    try:
        for _ in range(50):  # the management API sees a new connection after a moment
            r = requests.get(API + names["busy"] + "/connections", auth=("guest", "guest"), timeout=10)
            if r.json():
                break
            time.sleep(0.2)
        removed = devstack.prune_stack_vhosts(BROKER.rstrip("/") + "/" + names["mine"], keep=names["mine"])
        assert names["idle"] in removed
        assert not _exists(names["idle"])
        for kept in ("recent", "unmarked", "busy", "mine"):
            assert _exists(names[kept]), kept
    finally:
        conn.release()
        for name in names.values():
            devstack.delete_vhost(BROKER.rstrip("/") + "/" + name)
