"""User accounts: ``runapi users create NAME`` makes a user, its entity and an API key."""

from __future__ import annotations

import re
from pathlib import Path

from runapi_server.auth import hash_key, new_api_key
from runapi_server.state import ServerState
from runapi_server.timeutil import now_iso

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def create_user(data_dir: Path, name: str) -> str:
    """Create user NAME (entity NAME) if new, add a fresh API key, and return the key.

    Works whether or not a server is running on the same data dir (SQLite WAL).
    """
    if not NAME_RE.match(name):
        raise ValueError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    state = ServerState.open(data_dir)
    key = new_api_key()
    now = now_iso()
    with state.db.transaction() as conn:
        conn.execute(
            "INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (name, now),
        )
        (user_id,) = conn.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
        conn.execute(
            "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?, ?, ?)",
            (hash_key(key), user_id, now),
        )
    return key
