"""Signing keys: Ed25519, kept in identity's database, several at once for rotation."""
from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from guichet_common.auth import ALGORITHM, AUDIENCE, ISSUER
from guichet_common.db import as_utc
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import SigningKey


def create_key(session: Session) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    kid = secrets.token_hex(8)
    jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    key = SigningKey(kid=kid, private_pem=pem, public_jwk=jwk)
    session.add(key)
    session.flush()
    return key


_aware = as_utc


def current_key(session: Session, activation_delay_s: float = 0) -> SigningKey:
    """The signing key: the newest one published for at least `activation_delay_s`.

    Rotation publishes the new key first and signs with it only after the delay, so every
    verifier (which re-reads the JWKS at most every few seconds on an unknown kid) already
    knows it when the first token it signed arrives: nobody is logged out or refused.
    """
    keys = session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None))
                           .order_by(SigningKey.created_at.desc())).scalars().all()
    if not keys:
        key = create_key(session)
        session.commit()
        return key
    ready = datetime.now(UTC) - timedelta(seconds=activation_delay_s)
    for key in keys:
        if _aware(key.created_at) <= ready:
            return key
    return keys[-1]  # only fresh keys (a first start): the oldest of them


def jwks(session: Session) -> dict[str, Any]:
    # Older keys stay published until every token they signed has expired (see prune).
    keys = session.execute(select(SigningKey).order_by(SigningKey.created_at.desc())).scalars().all()
    if not keys:
        keys = [current_key(session)]
    return {"keys": [k.public_jwk for k in keys]}


def rotate(session: Session) -> str:
    """Publish a new key; it signs once the activation delay has passed."""
    key = create_key(session)
    session.commit()
    return key.kid


def prune(session: Session, activation_delay_s: float, token_ttl_s: float) -> int:
    """Drop keys superseded long enough ago that no token they signed is still valid."""
    active = current_key(session, activation_delay_s)
    took_over = _aware(active.created_at) + timedelta(seconds=activation_delay_s)
    if datetime.now(UTC) < took_over + timedelta(seconds=token_ttl_s + 60):
        return 0
    done = 0
    for key in session.execute(select(SigningKey).where(SigningKey.created_at < active.created_at)).scalars():
        session.delete(key)
        done += 1
    return done


def issue_access_token(session: Session, claims: dict[str, Any], ttl_s: int, activation_delay_s: float = 0) -> str:
    key = current_key(session, activation_delay_s)
    now = datetime.now(UTC)
    payload = dict(claims, iss=ISSUER, aud=AUDIENCE, iat=now, exp=now + timedelta(seconds=ttl_s),
                   typ="access", jti=uuid.uuid4().hex)
    return jwt.encode(payload, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})
