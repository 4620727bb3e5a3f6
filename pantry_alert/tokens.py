"""Scoped API tokens and console sessions, as library calls.

A token is ``pa_`` plus 256 random bits (``secrets.token_urlsafe``); only
its SHA-256 is stored (a random 256-bit secret needs no slow hash), so the
database never holds a usable token.  Scopes:

- ``read``: every GET and the console's pages;
- ``ack``: acknowledge, resolve, notes;
- ``silence``: silences and maintenance;
- ``rules``: rule edits;
- ``admin``: tokens and the audit log, and everything else.

Every scope includes ``read``, and ``admin`` includes all.  The token of
``PANTRY_ALERT_API_TOKEN`` (or ``api.token``) is an ``admin`` token named
``env``.  The command line (``token add | list | revoke``) and the HTTP
server call these functions; the server reads the table again whenever the
database changes, so a new or revoked token counts at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from . import audit
from .audit import Actor
from .errors import NotFoundError, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .workspace import Workspace

SCOPES = ("read", "ack", "silence", "rules", "admin")
ENV_TOKEN_NAME = "env"  # the token of PANTRY_ALERT_API_TOKEN / api.token
NO_AUTH_NAME = "anonymous"  # who acts on a server started with --no-auth
RESERVED_NAMES = (ENV_TOKEN_NAME, NO_AUTH_NAME)
TOKEN_PREFIX = "pa_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TOKEN_HINT = "`pantry-alert token list` shows the tokens"


def token_hash(token: str) -> str:
    """The stored form of a token or session id: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str) -> list[str]:
    """``read,ack`` -> ``["read", "ack"]`` in the canonical order; an unknown scope is a ``UsageError``."""
    given = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [s for s in given if s not in SCOPES]
    if unknown or not given:
        raise UsageError(
            f"--scope: unknown scope {', '.join(map(repr, unknown))}"
            if unknown
            else "--scope: give at least one scope",
            hint=f"scopes: {', '.join(SCOPES)} (comma-separated, e.g. --scope read,ack)",
        )
    return [s for s in SCOPES if s in given]


def allows(scopes: frozenset[str] | tuple[str, ...] | list[str], needed: str) -> bool:
    """Whether ``scopes`` grant ``needed``: every scope includes ``read``, ``admin`` includes all."""
    return needed in scopes or "admin" in scopes or (needed == "read" and bool(scopes))


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a token's name and scopes (and, for expiry checks, when it ends)."""

    name: str
    scopes: frozenset[str]
    hash: str = field(repr=False)
    expires_at: int | None = None

    def allows(self, needed: str) -> bool:
        return allows(self.scopes, needed)

    def live(self, now: int) -> bool:
        return self.expires_at is None or now < self.expires_at


def env_principal(token: str) -> Principal:
    return Principal(ENV_TOKEN_NAME, frozenset({"admin"}), token_hash(token))


NO_AUTH = Principal(NO_AUTH_NAME, frozenset({"admin"}), "")


class TokenTable:
    """The tokens as they were at one moment: find the one a request presents.

    ``env`` (the server's own token) is compared in constant time; a stored
    token is found by its SHA-256 and the stored hash compared again in
    constant time."""

    def __init__(self, rows: list[dict[str, Any]], env_token: str | None):
        self.env = env_principal(env_token) if env_token else None
        self._env_token = env_token.encode("utf-8", "surrogatepass") if env_token else None
        self.by_hash = {
            row["hash"]: Principal(row["name"], frozenset(row["scopes"]), row["hash"], row["expiresAt"]) for row in rows
        }
        self.by_name = {p.name: p for p in self.by_hash.values()}
        if self.env is not None:
            self.by_name[ENV_TOKEN_NAME] = self.env

    def __len__(self) -> int:
        return len(self.by_hash) + (self.env is not None)

    def find(self, presented: str, now: int) -> Principal | None:
        """The live token whose value is ``presented``; None for a wrong, revoked or expired one."""
        raw = presented.encode("utf-8", "surrogatepass")
        if self._env_token is not None and hmac.compare_digest(raw, self._env_token):
            return self.env
        digest = token_hash(presented)
        found = self.by_hash.get(digest)
        if found is None or not hmac.compare_digest(found.hash, digest) or not found.live(now):
            return None
        return found


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"token name {name[:80]!r} is not allowed",
            hint="1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if name in RESERVED_NAMES:
        raise UsageError(
            f"token name '{name}' is reserved ({'PANTRY_ALERT_API_TOKEN' if name == ENV_TOKEN_NAME else '--no-auth'})",
            hint="choose another name",
        )
    return name


def add_token(
    ws: Workspace,
    name: str,
    scopes: list[str],
    *,
    expires_ms: int | None = None,
    now: int | None = None,
    actor: Actor | None = None,
) -> tuple[str, dict[str, Any]]:
    """Create a token: returns ``(token, its list entry)``; the token is not stored and cannot be shown again.
    The audit log's entry (``actor``, default the local user) is written in the same transaction.

    Raises ``UsageError`` for a bad name, an unknown scope or a name in use."""
    from .actions import writing
    from .store.tokens import get_token, insert_token

    check_name(name)
    scopes = [s for s in SCOPES if s in scopes]
    if not scopes:
        raise UsageError("a token needs at least one scope", hint=f"scopes: {', '.join(SCOPES)}")
    if expires_ms is not None and expires_ms <= 0:
        raise UsageError("--expires: give a duration longer than 0, such as 90d")
    now = ws.now() if now is None else now
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(ws, create=True) as store, store.transaction():
        if get_token(store, name) is not None:
            raise UsageError(
                f"a token named '{name}' already exists",
                hint=f"revoke it first (`pantry-alert token revoke {name}`) or choose another name",
            )
        entry = insert_token(
            store,
            name,
            hash_=token_hash(token),
            scopes=scopes,
            now=now,
            expires_at=None if expires_ms is None else now + expires_ms,
        )
        details = {"scopes": list(scopes), "expiresAt": entry.get("expiresAt")}
        audit.record(store, actor or audit.Actor.local(), audit.TOKEN_ADD, name, now, details)
    return token, public(entry)


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """A token's list entry, without its hash: ``{"name", "scopes", "createdAt", "expiresAt", "lastUsedAt"}``."""
    return {k: v for k, v in entry.items() if k != "hash"}


def list_tokens(ws: Workspace) -> list[dict[str, Any]]:
    """Every stored token, by name (never the token nor its hash)."""
    from .store.tokens import list_tokens as store_list

    with ws.store() as store:
        return [public(entry) for entry in store_list(store)]


def revoke_token(ws: Workspace, name: str, *, now: int | None = None, actor: Actor | None = None) -> dict[str, Any]:
    """Delete a token and end its console sessions; returns its last list entry.  The audit log's
    entry (``actor``, default the local user) is written in the same transaction.

    Raises ``NotFoundError`` for an unknown name."""
    from .actions import writing
    from .store.tokens import delete_token, get_token

    with writing(ws) as store:
        found = get_token(store, name) if store.conn is not None else None
        if found is None:
            raise NotFoundError(f"no token named '{name}'", hint=TOKEN_HINT)
        with store.transaction():
            delete_token(store, name)
            at = ws.now() if now is None else now
            audit.record(store, actor or audit.Actor.local(), audit.TOKEN_REVOKE, name, at)
    return public(found)


def load_table(ws: Workspace, env_token: str | None) -> TokenTable:
    """The stored tokens now, plus the server's own."""
    from .store.tokens import list_tokens as store_list

    with ws.store() as store:
        rows = store_list(store)
    return TokenTable(rows, env_token)


def record_use(ws: Workspace, name: str, now: int) -> None:
    """Remember when a token was last used (best effort: a busy database skips it)."""
    import sqlite3

    from .errors import StateError
    from .store import open_store
    from .store.tokens import touch_token

    try:
        with open_store(ws.db_path(), create=False, timeout_ms=200) as store, store.transaction():
            touch_token(store, name, now)
    except (StateError, sqlite3.Error):
        pass


# ----------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    """A console sign-in: who (the token's name, scopes and hash), its CSRF token, when it ends."""

    id_hash: str
    principal: Principal
    csrf: str
    expires_at: int


def start_session(ws: Workspace, principal: Principal, *, ttl_ms: int, now: int | None = None) -> tuple[str, Session]:
    """A new session for ``principal``: ``(cookie value, session)``.  It ends after ``ttl_ms``
    or when the token expires, whichever comes first."""
    from .actions import writing
    from .store.tokens import insert_session

    now = ws.now() if now is None else now
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = now + ttl_ms
    if principal.expires_at is not None:
        expires_at = min(expires_at, principal.expires_at)
    session = Session(token_hash(cookie), principal, csrf, expires_at)
    with writing(ws, create=True) as store, store.transaction():
        insert_session(
            store,
            session.id_hash,
            token_name=principal.name,
            token_hash=principal.hash,
            csrf=csrf,
            now=now,
            expires_at=expires_at,
        )
    return cookie, session


def end_session(ws: Workspace, id_hash: str) -> None:
    from .actions import writing
    from .store.tokens import delete_session

    with writing(ws) as store:
        if store.conn is not None:
            with store.transaction():
                delete_session(store, id_hash)


def load_sessions(ws: Workspace, table: TokenTable, now: int, *, no_auth: bool = False) -> dict[str, Session]:
    """id hash -> session, for the sessions whose token is still the one that started them."""
    from .store.tokens import live_sessions

    with ws.store() as store:
        rows = live_sessions(store, now)
    sessions = {}
    for row in rows:
        name = row["tokenName"]
        principal = NO_AUTH if no_auth and name == NO_AUTH_NAME else table.by_name.get(name)
        if principal is None or not hmac.compare_digest(principal.hash, row["tokenHash"]):
            continue  # revoked, replaced, or the server's token changed
        sessions[row["idHash"]] = Session(row["idHash"], principal, row["csrf"], row["expiresAt"])
    return sessions
