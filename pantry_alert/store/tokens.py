"""The rows behind scoped API tokens and the console's sign-in sessions.

A token is stored only as its SHA-256 (hex); a session only as the SHA-256
of its cookie value, with the hash of the token that started it, so a
session dies with its token (revoked, expired, or replaced by a new token of
the same name).  Callers wrap the writes in ``store.transaction()``.
"""

from __future__ import annotations

import json

from . import Store

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

_TOKEN_COLUMNS = "name, hash, scopes, created_at, expires_at, last_used_at"
_SESSION_COLUMNS = "id_hash, token_name, token_hash, csrf, created_at, expires_at"


def has_tokens_table(store: Store) -> bool:
    """False for no database yet, or one opened read-only before its upgrade to tokens."""
    return bool(store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokens'"))


def _token(row: tuple) -> dict[str, Any]:
    name, hash_, scopes, created_at, expires_at, last_used_at = row
    return {
        "name": name,
        "hash": hash_,
        "scopes": json.loads(scopes),
        "createdAt": created_at,
        "expiresAt": expires_at,
        "lastUsedAt": last_used_at,
    }


def list_tokens(store: Store) -> list[dict[str, Any]]:
    """Every token (with its hash), by name."""
    if not has_tokens_table(store):
        return []
    return [_token(row) for row in store._rows(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY name")]


def get_token(store: Store, name: str) -> dict[str, Any] | None:
    if not has_tokens_table(store):
        return None
    rows = store._rows(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE name = ?", (name,))
    return _token(rows[0]) if rows else None


def insert_token(
    store: Store, name: str, *, hash_: str, scopes: list[str], now: int, expires_at: int | None
) -> dict[str, Any]:
    store.open_conn.execute(
        f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
        (name, hash_, json.dumps(scopes), now, expires_at),
    )
    return _token((name, hash_, json.dumps(scopes), now, expires_at, None))


def delete_token(store: Store, name: str) -> bool:
    """Remove a token and end its sessions; False when there was no such token."""
    conn = store.open_conn
    gone = conn.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount
    conn.execute("DELETE FROM sessions WHERE token_name = ?", (name,))
    return bool(gone)


def touch_token(store: Store, name: str, now: int) -> None:
    """Record when a token was last used."""
    store.open_conn.execute("UPDATE tokens SET last_used_at = ? WHERE name = ?", (now, name))


# ----------------------------------------------------------------- sessions


def live_sessions(store: Store, now: int) -> list[dict[str, Any]]:
    """The sessions that have not expired."""
    if not has_tokens_table(store):
        return []
    rows = store._rows(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE expires_at > ?", (now,))
    return [
        {"idHash": r[0], "tokenName": r[1], "tokenHash": r[2], "csrf": r[3], "createdAt": r[4], "expiresAt": r[5]}
        for r in rows
    ]


def insert_session(
    store: Store, id_hash: str, *, token_name: str, token_hash: str, csrf: str, now: int, expires_at: int
) -> None:
    """Start a session (and forget the ones that have expired)."""
    conn = store.open_conn
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
    conn.execute(
        f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (id_hash, token_name, token_hash, csrf, now, expires_at),
    )


def delete_session(store: Store, id_hash: str) -> None:
    store.open_conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
