"""Identity rules as plain functions: no Nameko, no SQLAlchemy."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

PASSWORD_SYMBOLS = "!+@#$%^&*()"
MIN_PASSWORD_LENGTH = 8
ACTIVATION_TTL_S = 48 * 3600
RESET_TTL_S = 3600
EMAIL_CHANGE_TTL_S = 24 * 3600
MAX_ADDRESSES = 5
MAX_HOUSEHOLD = 15
MAX_CONTACTS = 10
ROLES = ("representative", "viewer")
ROLE_LABELS = {"representative": "Représentant", "viewer": "Lecteur"}
RELATIONS = {
    "conjoint": "Conjoint ou conjointe", "enfant": "Enfant", "parent": "Parent",
    "frere_soeur": "Frère ou sœur", "grand_parent": "Grand-parent", "autre": "Autre",
}
# Fields of the /me view a client may send back unchanged (GET → edit → PATCH).
READ_ONLY_FIELDS = ("id", "roles", "pending_email", "franceconnect")
PROFILE_FIELDS = ("first_name", "last_name", "phone", "addresses", "household", "contacts",
                  "notification_prefs", "email")
# `email` is the contract's master switch; notify also reads per-category switches (missing = on).
NOTIFICATION_PREFS = ("email", "email_demandes", "email_justificatifs", "email_compte")


def password_problems(password: object) -> list[str]:
    """Every rule the password breaks, in French; empty when it is acceptable.

    The rule is the one residents already know from city portals: at least 8
    characters, an upper-case letter, a lower-case letter and a digit; the only
    symbols accepted are ! + @ # $ % ^ & * ( ).
    """
    if not isinstance(password, str) or not password:
        return ["Saisissez un mot de passe."]
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères.")
    if len(password) > 128:
        problems.append("Le mot de passe doit contenir au plus 128 caractères.")
    if not re.search(r"[A-Z]", password):
        problems.append("Le mot de passe doit contenir au moins une lettre majuscule.")
    if not re.search(r"[a-z]", password):
        problems.append("Le mot de passe doit contenir au moins une lettre minuscule.")
    if not re.search(r"[0-9]", password):
        problems.append("Le mot de passe doit contenir au moins un chiffre.")
    others = sorted({c for c in password if not (c.isascii() and c.isalnum()) and c not in PASSWORD_SYMBOLS})
    if others:
        shown = " ".join("espace" if c == " " else c for c in others)
        problems.append(
            f"Caractère non accepté : {shown}. Seuls les symboles ! + @ # $ % ^ & * ( ) sont acceptés.")
    return problems


def normalize_email(value: object) -> str:
    """The email in canonical form, or ValueError with a French message.

    Syntax and deliverability-shaped checks only (a dotted domain, no IP literal): no
    network look-up.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Saisissez une adresse électronique.")
    try:
        info = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValueError("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.") from None
    domain = info.domain
    if "." not in domain or domain.startswith("[") or domain.endswith("."):
        raise ValueError("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.")
    # Lower-cased whole: people type their address with varying case and expect one account.
    return f"{info.local_part}@{domain}".lower()


def clean_name(value: object, label: str, required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"Saisissez votre {label}.")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"Le {label} doit être un texte.")
    value = " ".join(value.split())
    if len(value) > 100:
        raise ValueError(f"Le {label} doit contenir au plus 100 caractères.")
    return value


def new_token() -> tuple[str, str]:
    """A random single-use token and the hash we store (never the token itself)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- profile ------------------------------------------------------------------------

class Problems:
    """Collects French error messages per field (keys like `addresses[0].city`)."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)


def _text(value: object, max_len: int) -> str | None:
    """A trimmed single-line text, or None when it is not a string / too long."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value if len(value) <= max_len else None


def clean_phone(value: object) -> str:
    """A French or international phone number, kept as typed (trimmed); "" clears it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if not isinstance(value, str):
        raise ValueError("Le numéro de téléphone doit être un texte.")
    typed = " ".join(value.split())
    digits = re.sub(r"[ .\-]", "", typed)
    if re.fullmatch(r"0[1-9][0-9]{8}", digits) or re.fullmatch(r"\+[1-9][0-9]{6,14}", digits):
        return typed
    raise ValueError("Saisissez un numéro de téléphone valide, par exemple 01 23 45 67 89 ou +33 1 23 45 67 89.")


def clean_addresses(value: object, problems: Problems) -> list[dict[str, str]]:
    if not isinstance(value, list):
        problems.add("addresses", "Les adresses doivent être une liste.")
        return []
    if len(value) > MAX_ADDRESSES:
        problems.add("addresses", f"Vous pouvez enregistrer au plus {MAX_ADDRESSES} adresses.")
        return []
    out = []
    for i, item in enumerate(value):
        key = f"addresses[{i}]"
        if not isinstance(item, dict):
            problems.add(key, "Chaque adresse doit être un objet.")
            continue
        unknown = set(item) - {"label", "street", "complement", "postal_code", "city", "country"}
        if unknown:
            problems.add(key, "Champs inconnus : " + ", ".join(sorted(map(str, unknown))) + ".")
        addr: dict[str, str] = {}
        for field, label, max_len, required in (("label", "libellé", 50, False), ("street", "numéro et voie", 200, True),
                                                ("complement", "complément", 200, False),
                                                ("postal_code", "code postal", 10, True), ("city", "commune", 100, True),
                                                ("country", "pays", 60, False)):
            text = _text(item.get(field), max_len)
            if text is None:
                problems.add(f"{key}.{field}", f"Le champ {label} doit être un texte de {max_len} caractères au plus.")
                continue
            if required and not text:
                problems.add(f"{key}.{field}", f"Saisissez le champ {label}.")
                continue
            addr[field] = text
        country = addr.get("country") or "France"
        addr["country"] = country
        if addr.get("postal_code") and country.lower() == "france" and not re.fullmatch(r"[0-9]{5}", addr["postal_code"]):
            problems.add(f"{key}.postal_code", "Le code postal doit comporter 5 chiffres, par exemple 78000.")
        out.append(addr)
    return out


def parse_date(value: object) -> date | None:
    """An ISO date (AAAA-MM-JJ), or None when it is not one."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def clean_household(value: object, problems: Problems, today: date) -> list[dict[str, str]]:
    if not isinstance(value, list):
        problems.add("household", "Les membres du foyer doivent être une liste.")
        return []
    if len(value) > MAX_HOUSEHOLD:
        problems.add("household", f"Vous pouvez déclarer au plus {MAX_HOUSEHOLD} membres du foyer.")
        return []
    out = []
    for i, item in enumerate(value):
        key = f"household[{i}]"
        if not isinstance(item, dict):
            problems.add(key, "Chaque membre du foyer doit être un objet.")
            continue
        unknown = set(item) - {"first_name", "last_name", "birth_date", "relation"}
        if unknown:
            problems.add(key, "Champs inconnus : " + ", ".join(sorted(map(str, unknown))) + ".")
        member: dict[str, str] = {}
        for field, label in (("first_name", "prénom"), ("last_name", "nom")):
            try:
                member[field] = clean_name(item.get(field), label)
            except ValueError as exc:
                problems.add(f"{key}.{field}", str(exc))
        born = parse_date(item.get("birth_date"))
        if born is None:
            problems.add(f"{key}.birth_date", "Saisissez la date de naissance au format AAAA-MM-JJ, par exemple 2015-03-21.")
        elif born > today or born.year < 1900:
            problems.add(f"{key}.birth_date", "La date de naissance doit être passée et postérieure à 1900.")
        else:
            member["birth_date"] = born.isoformat()
        relation = item.get("relation")
        if not isinstance(relation, str) or relation.strip() not in RELATIONS:
            problems.add(f"{key}.relation", "Choisissez le lien avec vous : " + ", ".join(RELATIONS) + ".")
        else:
            member["relation"] = relation.strip()
        out.append(member)
    return out


def clean_contacts(value: object, problems: Problems) -> list[dict[str, str]]:
    """Other ways to reach the person: extra phone numbers and email addresses."""
    if not isinstance(value, list):
        problems.add("contacts", "Les contacts doivent être une liste.")
        return []
    if len(value) > MAX_CONTACTS:
        problems.add("contacts", f"Vous pouvez enregistrer au plus {MAX_CONTACTS} contacts.")
        return []
    out = []
    for i, item in enumerate(value):
        key = f"contacts[{i}]"
        if not isinstance(item, dict) or item.get("type") not in ("telephone", "email"):
            problems.add(f"{key}.type", "Chaque contact a un type : telephone ou email.")
            continue
        label = _text(item.get("label"), 50)
        if label is None:
            problems.add(f"{key}.label", "Le libellé doit être un texte de 50 caractères au plus.")
            continue
        try:
            v = clean_phone(item.get("value")) if item["type"] == "telephone" else normalize_email(item.get("value"))
        except ValueError as exc:
            problems.add(f"{key}.value", str(exc))
            continue
        if not v:
            problems.add(f"{key}.value", "Saisissez le numéro de téléphone.")
            continue
        out.append({"type": item["type"], "value": v, "label": label})
    return out


def clean_prefs(value: object, problems: Problems) -> dict[str, bool]:
    if not isinstance(value, dict):
        problems.add("notification_prefs", "Les préférences doivent être un objet, par exemple {\"email\": true}.")
        return {}
    out = {}
    for key, flag in value.items():
        if key not in NOTIFICATION_PREFS:
            problems.add(f"notification_prefs.{key}", "Préférence inconnue.")
        elif not isinstance(flag, bool):
            problems.add(f"notification_prefs.{key}", "La préférence doit valoir true ou false.")
        else:
            out[key] = flag
    return out


def clean_profile_changes(changes: object, current: dict[str, Any], today: date) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validated PATCH /me changes (only what changes) and the problems found.

    `current` is the /me view: read-only fields sent back unchanged are accepted, so a client
    may GET, edit and PATCH the whole document.
    """
    problems = Problems()
    if not isinstance(changes, dict):
        problems.add("", "Le corps de la requête doit être un objet JSON.")
        return {}, problems.errors
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field in READ_ONLY_FIELDS:
            if value != current.get(field):
                problems.add(field, "Ce champ ne peut pas être modifié ici.")
        elif field not in PROFILE_FIELDS:
            problems.add(str(field), "Champ inconnu.")
        elif field in ("first_name", "last_name"):
            try:
                clean[field] = clean_name(value, "prénom" if field == "first_name" else "nom")
            except ValueError as exc:
                problems.add(field, str(exc))
        elif field == "phone":
            try:
                clean[field] = clean_phone(value)
            except ValueError as exc:
                problems.add(field, str(exc))
        elif field == "email":
            try:
                email = normalize_email(value)
            except ValueError as exc:
                problems.add(field, str(exc))
            else:
                if email != current.get("email"):
                    clean[field] = email
        elif field == "addresses":
            clean[field] = clean_addresses(value, problems)
        elif field == "household":
            clean[field] = clean_household(value, problems, today)
        elif field == "contacts":
            clean[field] = clean_contacts(value, problems)
        elif field == "notification_prefs":
            clean[field] = {**(current.get("notification_prefs") or {}), **clean_prefs(value, problems)}
    return clean, problems.errors


# --- associations -------------------------------------------------------------------

def clean_rna(value: object) -> str:
    """The RNA number of a declared association: W followed by 9 digits (W912345678)."""
    if not isinstance(value, str) or not re.fullmatch(r"[Ww][0-9]{9}", value.strip()):
        raise ValueError("Le numéro RNA est la lettre W suivie de 9 chiffres, par exemple W912345678.")
    return value.strip().upper()


def clean_until(value: object, today: date) -> date | None:
    """The optional last day of a right (inclusive); ValueError when malformed or past."""
    if value is None or value == "":
        return None
    until = parse_date(value)
    if until is None:
        raise ValueError("Saisissez la date de fin au format AAAA-MM-JJ.")
    if until < today:
        raise ValueError("La date de fin ne peut pas être passée.")
    return until


def right_active(until: date | None, today: date) -> bool:
    """A right lapses by itself the day after `until`."""
    return until is None or today <= until
