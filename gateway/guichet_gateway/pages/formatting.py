"""French formatting shared by the pages."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def date_fr(value: str | None, with_time: bool = True) -> str:
    """'2026-11-25T17:20:00+00:00' -> '25 novembre 2026 à 18 h 20' (Paris time); '' if unreadable."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if dt.tzinfo is not None:
        dt = dt.astimezone(PARIS)
    text = f"{dt.day} {MONTHS[dt.month - 1]} {dt.year}"
    return text + (f" à {dt.hour} h {dt.minute:02d}" if with_time else "")
