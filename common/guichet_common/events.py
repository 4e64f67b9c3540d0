"""Event names, payloads and consumers: the facts services tell each other.

Names are constants so a typo is an import error; CONSUMERS says who handles what and a
test checks every event listed here has a handler in that service (and nothing else).
Every payload carries an `event_id` so handlers can be idempotent (delivery is
at-least-once).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

# identity
ACCOUNT_REGISTERED = "account_registered"          # pending account: send activation link
ACCOUNT_REGISTER_ATTEMPT_KNOWN = "account_register_attempt_known"  # email already known
ACCOUNT_ACTIVATED = "account_activated"
ACCOUNT_LOCKED = "account_locked"
PASSWORD_RESET_REQUESTED = "password_reset_requested"
PASSWORD_CHANGED = "password_changed"
EMAIL_CHANGE_REQUESTED = "email_change_requested"
EMAIL_CHANGED = "email_changed"
ACCOUNT_DELETED = "account_deleted"
CONTACT_CHANGED = "contact_changed"                # address or notification preferences: notify's copy
# wallet
JUSTIFICATIF_VALIDATED = "justificatif_validated"
JUSTIFICATIF_REFUSED = "justificatif_refused"
JUSTIFICATIF_EXPIRING = "justificatif_expiring"
# demarches
DEMANDE_SUBMITTED = "demande_submitted"
DEMANDE_STATUS_CHANGED = "demande_status_changed"
DEMANDE_MESSAGE_FROM_AGENT = "demande_message_from_agent"
DEMANDE_INFO_REQUESTED = "demande_info_requested"
# notify
NOTIFICATION_CREATED = "notification_created"       # a transient hint (UnitOfWork.hint) for the gateway's live stream (pika)

# (source service, event) -> services handling it
CONSUMERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("identity", ACCOUNT_REGISTERED): ("notify",),
    ("identity", ACCOUNT_REGISTER_ATTEMPT_KNOWN): ("notify",),
    ("identity", ACCOUNT_ACTIVATED): ("notify",),
    ("identity", ACCOUNT_LOCKED): ("notify",),
    ("identity", PASSWORD_RESET_REQUESTED): ("notify",),
    ("identity", PASSWORD_CHANGED): ("notify",),
    ("identity", EMAIL_CHANGE_REQUESTED): ("notify",),
    ("identity", EMAIL_CHANGED): ("notify",),
    ("identity", ACCOUNT_DELETED): ("notify", "wallet", "demarches"),
    ("identity", CONTACT_CHANGED): ("notify",),
    ("wallet", JUSTIFICATIF_VALIDATED): ("notify",),
    ("wallet", JUSTIFICATIF_REFUSED): ("notify",),
    ("wallet", JUSTIFICATIF_EXPIRING): ("notify",),
    ("demarches", DEMANDE_SUBMITTED): ("notify",),
    ("demarches", DEMANDE_STATUS_CHANGED): ("notify",),
    ("demarches", DEMANDE_MESSAGE_FROM_AGENT): ("notify",),
    ("demarches", DEMANDE_INFO_REQUESTED): ("notify",),
    ("notify", NOTIFICATION_CREATED): ("gateway",),
}


def payload(**data: Any) -> dict[str, Any]:
    """An event payload: the data plus a fresh event_id and the time it happened."""
    data.setdefault("event_id", uuid.uuid4().hex)
    data.setdefault("occurred_at", datetime.now(UTC).isoformat())
    return data
