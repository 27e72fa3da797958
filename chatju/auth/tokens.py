"""Signing the tokens (flask-jwt-extended): every claim of a pair comes from its grant.

HS256 is deterministic, so the same grant signs the same pair again: that is how a
second refresh within the grace gets the very pair the first one got, although only
a hash of each refresh token is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_jwt_extended import create_access_token, create_refresh_token

from chatju.auth.models import User

ADMIN_ROLE = "admin"
SIGN_IN_CLAIM = "sid"


@dataclass(frozen=True)
class Grant:
    """What one token pair of a sign-in is made of (stored on its refresh-token row)."""

    user_id: int
    is_admin: bool
    sign_in: str  # the sign-in's sid
    refresh_jti: str
    access_jti: str
    issued_at: datetime
    expires_at: datetime
    access_expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str

    def as_json(self) -> dict[str, str]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token}


def new_id() -> str:
    """A random id: a token's jti, a sign-in's sid."""
    return str(uuid.uuid4())


def sign_pair(grant: Grant) -> TokenPair:
    """The pair of `grant`: the same grant always gives the same two strings."""
    access = _fixed_claims(grant.access_jti, grant.issued_at, grant.access_expires_at, grant.sign_in)
    refresh = _fixed_claims(grant.refresh_jti, grant.issued_at, grant.expires_at, grant.sign_in)
    return TokenPair(
        access_token=_access_token(str(grant.user_id), grant.is_admin, access),
        refresh_token=str(create_refresh_token(identity=str(grant.user_id), additional_claims=refresh)),
    )


def sign_access(user: User) -> str:
    """An access token outside any sign-in (the operator's `auth token`): revocable by its id alone."""
    return _access_token(str(user.id), user.is_admin, {})


def revocation_entries(claims: Mapping[str, Any]) -> list[str]:
    """The blocklist entries that refuse this access token: its own id, and its sign-in's."""
    entries = [access_entry(str(claims.get("jti", "")))]
    if SIGN_IN_CLAIM in claims:
        entries.append(sign_in_entry(str(claims[SIGN_IN_CLAIM])))
    return entries


def access_entry(jti: str) -> str:
    return f"access:{jti}"


def sign_in_entry(sid: str) -> str:
    return f"sign-in:{sid}"


def _access_token(subject: str, is_admin: bool, claims: dict[str, Any]) -> str:
    role = {"role": ADMIN_ROLE} if is_admin else {}
    return str(create_access_token(identity=subject, additional_claims={**claims, **role}))


def _fixed_claims(jti: str, issued_at: datetime, expires_at: datetime, sid: str) -> dict[str, Any]:
    issued = int(issued_at.timestamp())
    return {"jti": jti, "iat": issued, "nbf": issued, "exp": int(expires_at.timestamp()), SIGN_IN_CLAIM: sid}
