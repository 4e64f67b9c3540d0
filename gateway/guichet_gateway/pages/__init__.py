"""French pages. Each area has its own module with a blueprint, registered here."""
from __future__ import annotations

from flask import Flask


def register_pages(app: Flask) -> None:
    from .session import init_sessions

    init_sessions(app)
    # Each area's blueprint (pages/<area>.py) is registered below.
    from . import wallet
    wallet.register(app)  # wallet: porte-documents, justificatif review
