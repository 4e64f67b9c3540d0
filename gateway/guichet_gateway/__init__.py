"""The Guichet gateway: French pages, the JSON API under /api/v1, sessions.

`create_app()` is the factory (gunicorn: `guichet_gateway:create_app()`).
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from guichet_common import config as gconfig
from guichet_common.auth import Verifier

from .errors import init_errors
from .rpc import RpcPool


def _secret_key(var: Path) -> str:
    """The cookie-signing key: from the environment, else generated once into var/."""
    env = os.environ.get("GUICHET_SECRET_KEY")
    if env:
        return env
    path = var / "secrets" / "gateway_secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    var = gconfig.var_dir()
    app.config.update(
        AMQP_URI=gconfig.amqp_uri(),
        BASE_URL=gconfig.base_url(),
        CITY_NAME=os.environ.get("GUICHET_CITY_NAME", "Ville de Bellerive"),
        MAX_CONTENT_LENGTH=int(os.environ.get("GUICHET_MAX_REQUEST_BYTES", str(110 * 1024 * 1024))),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=gconfig.base_url().startswith("https://"),
        RPC_POOL_SIZE=int(os.environ.get("GUICHET_RPC_POOL_SIZE", "16")),
        JSON_SORT_KEYS=False,
    )
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(var)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    proxies = int(os.environ.get("GUICHET_TRUSTED_PROXIES", "0"))
    if proxies:
        # Behind N reverse proxies the client's address (login brake per client) comes
        # from X-Forwarded-For; never trusted when no proxy is declared.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    logging.basicConfig(level=os.environ.get("GUICHET_LOG_LEVEL", "INFO"))

    pool = RpcPool({"AMQP_URI": app.config["AMQP_URI"]}, size=app.config["RPC_POOL_SIZE"])
    app.extensions["rpc"] = pool
    app.extensions["rpc_health"] = RpcPool({"AMQP_URI": app.config["AMQP_URI"]}, size=4, timeout=3)
    app.extensions["guichet_verifier"] = Verifier(lambda: pool.call("identity", "jwks"))

    init_errors(app)

    from . import api, health
    from .openapi import document

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)

    @app.get("/.well-known/jwks.json")
    def jwks():  # type: ignore[no-untyped-def]
        resp = jsonify(pool.call("identity", "jwks"))
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp

    spec = document()

    @app.get("/api/v1/openapi.json")
    def openapi():  # type: ignore[no-untyped-def]
        return jsonify(spec)

    _init_pages(app)

    @app.after_request
    def _security_headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    return app


def _init_pages(app: Flask) -> None:
    """The French pages, when the templating layer is present."""
    try:
        from .templating import init_templating, register_static_pages
    except ImportError:  # templates not built yet
        return
    init_templating(app)
    register_static_pages(app)
    from .pages import register_pages

    register_pages(app)
