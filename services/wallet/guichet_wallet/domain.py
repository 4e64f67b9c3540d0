"""Pure wallet rules (no nameko, no sqlalchemy): kinds, titles, scopes, who may read a
shared copy, justificatif statuses and reminders, limits."""
from __future__ import annotations

import re
from datetime import date, timedelta

STAFF_ROLES = frozenset({"agent", "admin"})
PART_SIZE = 1024 * 1024  # plaintext bytes per part / per chunked-transfer RPC message
REMINDER_DAYS = 30
MAX_VALIDITY_YEARS = 20

# Known justificatif kinds and their French labels; démarches may ask for other slugs.
KINDS: dict[str, str] = {
    "identite": "Pièce d’identité",
    "domicile": "Justificatif de domicile",
    "rib": "Relevé d’identité bancaire (RIB)",
    "revenus": "Avis d’imposition ou justificatif de revenus",
    "famille": "Livret de famille",
    "naissance": "Acte de naissance",
    "caf": "Attestation CAF",
    "autre": "Autre justificatif",
}
STATUS_LABELS = {
    "pending": "En attente de vérification",
    "validated": "Validé",
    "refused": "Refusé",
    "expired": "Expiré",
}
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_SCOPE_RE = re.compile(r"(demande|justificatif):[A-Za-z0-9_-]{1,64}")


def kind_label(kind: str | None) -> str:
    if not kind:
        return ""
    return KINDS.get(kind, kind)


def clean_kind(kind: object, required: bool = False) -> str | None:
    """A kind slug (``identite``...) or None; ValueError with a French message."""
    if kind is None or (isinstance(kind, str) and not kind.strip()):
        if required:
            raise ValueError("Indiquez le type de justificatif.")
        return None
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind.strip().lower()):
        raise ValueError("Type de justificatif inconnu.")
    return kind.strip().lower()


def clean_title(title: object, max_length: int = 200) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str):
        raise ValueError("Le titre doit être un texte.")
    text = " ".join(title.split())
    if len(text) > max_length:
        raise ValueError(f"Le titre ne doit pas dépasser {max_length} caractères.")
    return text or None


def check_scope(scope: object) -> str:
    if not isinstance(scope, str) or not _SCOPE_RE.fullmatch(scope):
        raise ValueError("Destination de partage invalide.")
    return scope


def may_read_shared(caller_id: str, roles: frozenset[str] | set[str], owner_id: str, scope: str) -> bool:
    """The owner always; staff only copies shared into a demande (what they work on).
    Never a private document: those are not shared copies."""
    if caller_id == owner_id:
        return True
    return bool(set(roles) & STAFF_ROLES) and scope.startswith("demande:")


def actor_role(caller_id: str, roles: frozenset[str] | set[str], owner_id: str) -> str:
    if caller_id == owner_id:
        return "owner"
    return "admin" if "admin" in roles else "agent" if "agent" in roles else "other"


def justificatif_status(status: str, valid_until: date | None, today: date) -> str:
    if status == "validated" and valid_until is not None and valid_until < today:
        return "expired"
    return status


def reminder_due(status: str, valid_until: date | None, today: date, already_sent: bool) -> bool:
    """Once, from 30 days before the end of validity until the last valid day."""
    if status != "validated" or valid_until is None or already_sent:
        return False
    return today <= valid_until <= today + timedelta(days=REMINDER_DAYS)


def parse_valid_until(value: object, today: date) -> date:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Indiquez la date de fin de validité.")
    try:
        parsed = date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError("La date de fin de validité doit être au format AAAA-MM-JJ.") from None
    if parsed <= today:
        raise ValueError("La date de fin de validité doit être dans le futur.")
    if parsed > today.replace(year=today.year + MAX_VALIDITY_YEARS):
        raise ValueError(f"La date de fin de validité ne peut dépasser {MAX_VALIDITY_YEARS} ans.")
    return parsed


def clean_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("Indiquez le motif du refus.")
    text = reason.strip()
    if len(text) > 1000:
        raise ValueError("Le motif ne doit pas dépasser 1000 caractères.")
    return text


def human_size(n: int) -> str:
    """French size: 1,5 Mo, 12 ko, 800 octets."""
    if n >= 1024 * 1024:
        value, unit = n / (1024 * 1024), "Mo"
    elif n >= 1024:
        value, unit = n / 1024, "ko"
    else:
        return f"{n} octet{'s' if n > 1 else ''}"
    text = f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text} {unit}"


def too_large_message(limit: int) -> str:
    return f"Le fichier dépasse la taille maximale autorisée ({human_size(limit)})."


def quota_message(used: int, quota: int) -> str:
    return (f"Votre porte-documents est plein : {human_size(used)} utilisés sur {human_size(quota)}. "
            "Supprimez des documents pour libérer de la place.")


def parts_for(size: int, part_size: int = PART_SIZE) -> int:
    return max(1, -(-size // part_size))
