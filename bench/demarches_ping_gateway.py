"""The gateway plus one do-nothing route (GET /bench/ping -> demarches.health over RPC):
the ceiling that bench/demarches_backoffice.py prints beside its figures."""
from __future__ import annotations

from typing import Any

from flask import jsonify


def create_app() -> Any:
    from guichet_gateway import create_app as gateway_app

    app = gateway_app()

    @app.get("/bench/ping")
    def ping():  # type: ignore[no-untyped-def]
        return jsonify(app.extensions["rpc"].call("demarches", "health"))

    return app
