"""API keys and HTTP Basic authentication (user ``api``, password = the key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

from runapi_server.db import Database

KEY_PREFIX = "local-"


@dataclass(frozen=True)
class AuthUser:
    id: int
    name: str  # also the user's entity

    @property
    def entity(self) -> str:
        return self.name


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_hex(20)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_from_header(authorization: str | None) -> str | None:
    """The API key in an ``Authorization: Basic base64(api:KEY)`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, key = decoded.partition(":")
    return key if sep and key else None


def authenticate(db: Database, authorization: str | None) -> AuthUser | None:
    key = key_from_header(authorization)
    if key is None:
        return None
    row = (
        db.read()
        .execute(
            "SELECT users.id, users.name FROM api_keys JOIN users ON users.id = api_keys.user_id"
            " WHERE api_keys.key_hash = ?",
            (hash_key(key),),
        )
        .fetchone()
    )
    return AuthUser(id=row["id"], name=row["name"]) if row else None
