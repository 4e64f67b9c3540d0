"""Identity rules as plain functions: no Nameko, no SQLAlchemy."""
from __future__ import annotations

import hashlib
import re
import secrets

from email_validator import EmailNotValidError, validate_email

PASSWORD_SYMBOLS = "!+@#$%^&*()"
MIN_PASSWORD_LENGTH = 8
ACTIVATION_TTL_S = 48 * 3600
RESET_TTL_S = 3600


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
    return f"{info.local_part}@{domain.lower()}"


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
