"""The gateway's RPC pool under threads, and /healthz marking the failing service."""
from __future__ import annotations

import threading
from urllib.parse import quote

import requests
from guichet_common.testing.env import BROKER


def _queues(vhost):
    host = BROKER.split("@")[-1].split(":")[0]
    r = requests.get(f"http://{host}:15672/api/queues/{quote(vhost, safe='')}", auth=("guest", "guest"), timeout=10)
    r.raise_for_status()
    return [q["name"] for q in r.json()]


def test_pool_is_correct_under_concurrent_threads_and_bounded(gateway_app, stack):
    pool = gateway_app.extensions["rpc"]
    before = {q for q in _queues(stack.vhost) if q.startswith("rpc.reply-standalone")}
    errors, results = [], []

    def worker():
        try:
            for _ in range(40):
                results.append(pool.call("identity", "health")["status"])
                results.append(pool.call("notify", "health")["status"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == ["ok"] * (24 * 40 * 2)
    new = {q for q in _queues(stack.vhost) if q.startswith("rpc.reply-standalone")} - before
    # Reply queues are reused: at most one per pooled proxy, however many calls (1 920 here).
    assert len(new) <= pool.size


def test_healthz_names_the_failing_service(test_env, container_factory):
    from guichet_demarches.service import DemarchesService
    from guichet_identity.service import IdentityService
    from guichet_notify.service import NotifyService

    app = test_env.gateway_app(TESTING=True)
    client = app.test_client()
    r = client.get("/healthz")
    assert r.status_code == 503
    assert all(v != "ok" for v in r.get_json()["services"].values())

    for cls, name in ((IdentityService, "identity"), (DemarchesService, "demarches"), (NotifyService, "notify")):
        container_factory(cls, test_env.service_config(name)).start()
    r = client.get("/healthz")
    body = r.get_json()
    assert r.status_code == 503
    assert body["status"] == "degraded"
    assert body["services"]["identity"] == body["services"]["demarches"] == body["services"]["notify"] == "ok"
    assert body["services"]["wallet"].startswith("error")
    app.extensions["rpc"].close()
    app.extensions["rpc_health"].close()
