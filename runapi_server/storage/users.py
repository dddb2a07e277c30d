"""Users and their API keys: the ``users`` and ``api_keys`` tables.

A user's name is also their entity. Keys are stored only as the SHA-256 hex of the key
(``key_hash``); a key row is ``key_hash, user_id, created_at``.

- users: :func:`user_by_id`, :func:`user_by_name`, :func:`users_by_ids`,
  :func:`ensure_user`;
- keys: :func:`user_for_key`, :func:`add_api_key`, :func:`count_api_keys`,
  :func:`api_keys_of`, :func:`all_keys`, :func:`keys_by_hash_prefix`,
  :func:`keys_of_user`, :func:`delete_api_keys`.

```python
with db.transaction() as conn:
    user_id, created = ensure_user(conn, "alice", now)
    add_api_key(conn, user_id, hash_key(key), now)
user = user_for_key(db.read(), hash_key(key))  # a row of id, name; None for an unknown key
```
"""

from __future__ import annotations

from collections.abc import Sequence

from runapi_server.storage.connection import Connection, Row

_KEY_ROW = (
    "SELECT users.name, api_keys.key_hash, api_keys.created_at FROM api_keys"
    " JOIN users ON users.id = api_keys.user_id"
)

# --------------------------------------------------------------------------- users


def user_by_id(conn: Connection, user_id: int) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).first()
    return row


def user_by_name(conn: Connection, name: str) -> Row | None:
    """The user (== entity) named ``name``."""
    row: Row | None = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).first()
    return row


def users_by_ids(conn: Connection, user_ids: Sequence[int]) -> list[Row]:
    """The user rows of ``user_ids`` that exist, in id order."""
    if not user_ids:
        return []
    fragment, param = conn.dialect.int_list(user_ids)
    return conn.execute(f"SELECT * FROM users WHERE id IN {fragment} ORDER BY id", (param,)).all()


def ensure_user(conn: Connection, name: str, now: str) -> tuple[int, bool]:
    """``(user id, created)``: user ``name``, created (at ``now``) when missing."""
    created = conn.execute(
        "INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, now),
    ).rowcount
    (user_id,) = conn.execute("SELECT id FROM users WHERE name = ?", (name,)).one()
    return int(user_id), created == 1


# --------------------------------------------------------------------------- API keys


def user_for_key(conn: Connection, key_hash: str) -> Row | None:
    """``id, name`` of the user whose key hashes to ``key_hash``, else None."""
    row: Row | None = conn.execute(
        "SELECT users.id, users.name FROM api_keys JOIN users ON users.id = api_keys.user_id"
        " WHERE api_keys.key_hash = ?",
        (key_hash,),
    ).first()
    return row


def add_api_key(conn: Connection, user_id: int, key_hash: str, now: str) -> None:
    conn.execute(
        "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?, ?, ?)",
        (key_hash, user_id, now),
    )


def count_api_keys(conn: Connection, user_id: int) -> int:
    (count,) = conn.execute("SELECT count(*) FROM api_keys WHERE user_id = ?", (user_id,)).one()
    return int(count)


def api_keys_of(conn: Connection, user_id: int) -> list[Row]:
    """``key_hash, created_at`` of the user's keys, oldest first."""
    order = _text_order(conn, "created_at", "key_hash")
    return conn.execute(
        f"SELECT key_hash, created_at FROM api_keys WHERE user_id = ? ORDER BY {order}",
        (user_id,),
    ).all()


def all_keys(conn: Connection) -> list[Row]:
    """``name, key_hash, created_at`` of every key by user name then age; a user without
    keys is one row with ``key_hash`` NULL and the user's ``created_at``."""
    order = _text_order(conn, "users.name", "api_keys.created_at", "api_keys.key_hash")
    return conn.execute(
        "SELECT users.name, api_keys.key_hash, coalesce(api_keys.created_at,"
        " users.created_at) AS created_at FROM users"
        f" LEFT JOIN api_keys ON api_keys.user_id = users.id ORDER BY {order}"
    ).all()


def keys_by_hash_prefix(conn: Connection, prefix: str) -> list[Row]:
    """``name, key_hash, created_at`` of the keys whose hash starts with ``prefix``."""
    order = _text_order(conn, "api_keys.key_hash")
    return conn.execute(
        f"{_KEY_ROW} WHERE substr(api_keys.key_hash, 1, ?) = ? ORDER BY {order}",
        (len(prefix), prefix),
    ).all()


def keys_of_user(conn: Connection, name: str) -> list[Row]:
    """``name, key_hash, created_at`` of user ``name``'s keys, oldest first."""
    order = _text_order(conn, "api_keys.created_at", "api_keys.key_hash")
    return conn.execute(f"{_KEY_ROW} WHERE users.name = ? ORDER BY {order}", (name,)).all()


def delete_api_keys(conn: Connection, key_hashes: Sequence[str]) -> None:
    conn.executemany("DELETE FROM api_keys WHERE key_hash = ?", [(h,) for h in key_hashes])


def _text_order(conn: Connection, *columns: str) -> str:
    return ", ".join(conn.dialect.binary_text(column) for column in columns)
