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


def current_key(session: Session) -> SigningKey:
    key = session.execute(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
    ).scalars().first()
    if key is None:
        key = create_key(session)
        session.commit()
    return key


def jwks(session: Session) -> dict[str, Any]:
    # Retired keys stay published until every token they signed has expired.
    keys = session.execute(select(SigningKey).order_by(SigningKey.created_at.desc())).scalars().all()
    if not keys:
        keys = [current_key(session)]
    return {"keys": [k.public_jwk for k in keys]}


def rotate(session: Session) -> str:
    now = datetime.now(UTC)
    for key in session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None))).scalars():
        key.retired_at = now
    key = create_key(session)
    session.commit()
    return key.kid


def prune(session: Session, keep_after: timedelta) -> None:
    cutoff = datetime.now(UTC) - keep_after
    for key in session.execute(select(SigningKey).where(SigningKey.retired_at < cutoff)).scalars():
        session.delete(key)


def issue_access_token(session: Session, claims: dict[str, Any], ttl_s: int) -> str:
    key = current_key(session)
    now = datetime.now(UTC)
    payload = dict(claims, iss=ISSUER, aud=AUDIENCE, iat=now, exp=now + timedelta(seconds=ttl_s),
                   typ="access", jti=uuid.uuid4().hex)
    return jwt.encode(payload, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})
