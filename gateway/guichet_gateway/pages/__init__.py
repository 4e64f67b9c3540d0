"""French pages. Each area has its module with a blueprint, registered here."""
from __future__ import annotations

from flask import Flask


def register_pages(app: Flask) -> None:
    pass
