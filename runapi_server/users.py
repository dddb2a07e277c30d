"""User accounts and their API keys, for the ``runapi users`` commands.

``create_user`` makes a user (and its entity) if new and adds a fresh key; ``list_users``
shows every user with its keys' fingerprints; ``revoke`` removes all keys of a user, or
one key by its fingerprint (``sha256:`` and the first hex digits of its hash, as
``list_users`` and the ``apiKeys`` field show it). A user and their data stay when their
keys are revoked. All of them work whether or not a server is running on the same data
dir (SQLite WAL); a running server stops accepting a revoked key within
``runapi_server.auth.KNOWN_KEY_SECONDS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runapi_server.auth import fingerprint, hash_key, new_api_key
from runapi_server.state import ServerState
from runapi_server.storage import users as stored_users
from runapi_server.timeutil import now_iso

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FINGERPRINT_RE = re.compile(r"^sha256:([0-9a-f]{8,64})$")


@dataclass(frozen=True)
class NewKey:
    """What ``add_key`` did: the new key, whether the user was created, keys it now has."""

    key: str
    created_user: bool
    key_count: int


@dataclass(frozen=True)
class KeyInfo:
    user: str
    fingerprint: str | None  # None: a user without keys
    created_at: str


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValueError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )


def add_key(data_dir: Path, name: str) -> NewKey:
    """Create user NAME (entity NAME) if new and add a fresh API key to it."""
    _check_name(name)
    state = ServerState.open(data_dir)
    key = new_api_key()
    now = now_iso()
    with state.db.transaction() as conn:
        user_id, created = stored_users.ensure_user(conn, name, now)
        stored_users.add_api_key(conn, user_id, hash_key(key), now)
        count = stored_users.count_api_keys(conn, user_id)
    return NewKey(key=key, created_user=created, key_count=count)


def create_user(data_dir: Path, name: str) -> str:
    """Create user NAME if new, add a fresh API key, and return the key."""
    return add_key(data_dir, name).key


def list_users(data_dir: Path) -> list[KeyInfo]:
    """Every user and key, by user name then key creation (a keyless user: one row)."""
    state = ServerState.open(data_dir)
    rows = stored_users.all_keys(state.db.read())
    return [
        KeyInfo(
            user=row["name"],
            fingerprint=fingerprint(row["key_hash"]) if row["key_hash"] else None,
            created_at=row["created_at"],
        )
        for row in rows
    ]


def revoke(data_dir: Path, target: str) -> list[KeyInfo]:
    """Remove every key of user ``target``, or the one key with fingerprint ``target``;
    return the keys removed. ``LookupError`` when nothing matches (or a fingerprint
    prefix matches several keys: nothing is removed then)."""
    match = FINGERPRINT_RE.match(target)
    if match is None:
        _check_name(target)
    state = ServerState.open(data_dir)
    with state.db.transaction() as conn:
        if match is not None:
            rows = stored_users.keys_by_hash_prefix(conn, match.group(1))
            if not rows:
                raise LookupError(f"no API key has fingerprint {target}")
            if len(rows) > 1:
                raise LookupError(
                    f"fingerprint {target} matches {len(rows)} keys: give more digits"
                )
        else:
            if stored_users.user_by_name(conn, target) is None:
                raise LookupError(f"no user named {target!r}")
            rows = stored_users.keys_of_user(conn, target)
        stored_users.delete_api_keys(conn, [row["key_hash"] for row in rows])
    return [KeyInfo(row["name"], fingerprint(row["key_hash"]), row["created_at"]) for row in rows]
