"""GET /healthz: 200 only when each service answered an RPC just now."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, current_app, jsonify
from guichet_common.config import SERVICES

bp = Blueprint("health", __name__)
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")


def _ping(app: object, service: str) -> str:
    try:
        current = app.extensions["rpc_health"]  # type: ignore[attr-defined]
        with current.proxy() as rpc:
            answer = getattr(rpc, service).health()
        return "ok" if answer.get("status") == "ok" else "error"
    except Exception as exc:  # any failure marks the service
        return f"error: {type(exc).__name__}"


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    results = dict(zip(SERVICES, _pool.map(lambda s: _ping(app, s), SERVICES), strict=True))
    ok = all(v == "ok" for v in results.values())
    return jsonify(status="ok" if ok else "degraded", services=results), (200 if ok else 503)
