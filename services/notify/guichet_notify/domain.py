"""Notify's pure rules: who gets an email, where links point, when to retry.

No Nameko, no SQLAlchemy: unit-tested with plain values.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CATEGORIES = ("compte", "justificatifs", "demandes")


def wants_email(prefs: Mapping[str, Any] | None, category: str, security: bool) -> bool:
    """Account-security and activation mails always go out; others follow the account's switches.

    `notification_prefs` is `{email: bool}` (CONTRACT) plus optional per-category switches
    `email_<category>: bool` (missing = on), so older clients that only know `email` keep working.
    """
    if security:
        return True
    prefs = prefs or {}
    if not bool(prefs.get("email", True)):
        return False
    return bool(prefs.get(f"email_{category}", True))


def split_link(link: str, base_url: str) -> tuple[str, str]:
    """(absolute link for the email, same-site path for the inbox) from an event's url.

    Only http(s) links go into an email and only paths of this portal into the inbox, so an
    event can never smuggle a `javascript:` or foreign link into a page.
    """
    base = base_url.rstrip("/")
    if not link:
        return "", ""
    if link.startswith("/") and not link.startswith("//"):
        return base + link, link
    if link.startswith(base + "/"):
        return link, link[len(base):]
    if link.startswith(("https://", "http://")):
        return link, ""
    return "", ""


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 30.0
    max_s: float = 3600.0
    max_attempts: int = 8
    lease_s: float = 60.0
    max_age_s: float = 3 * 86400.0  # a mail still unsent after this is given up

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "RetryPolicy":
        return cls(base_s=float(cfg.get("MAIL_RETRY_BASE_S", 30)), max_s=float(cfg.get("MAIL_RETRY_MAX_S", 3600)),
                   max_attempts=int(cfg.get("MAIL_MAX_ATTEMPTS", 8)), lease_s=float(cfg.get("MAIL_LEASE_S", 60)))

    def delay(self, attempts: int) -> float:
        """Exponential backoff after `attempts` refusals: base, 2·base, 4·base… capped."""
        return min(self.base_s * (2 ** max(attempts - 1, 0)), self.max_s)
