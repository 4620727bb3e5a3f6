"""Who did what: the actor of a human action and the audit log's entries.

Every human action (acknowledge, resolve, note, silence add and expire, rule
add and update, token add and revoke) takes an ``Actor``: the name it acts
as and, over HTTP, the client's address.  Each face builds its own:

- the command line: ``Actor.local()``, ``cli:<login name>``;
- the HTTP API: the name of the token that authenticated the request
  (``env`` for ``PANTRY_ALERT_API_TOKEN``), with the client address;
- Slack's button: ``slack:<user>``; an acknowledge link: ``link``.

The library writes the entry in the same transaction as the action itself
(``store.audit.record``), so the log never claims an action that did not
happen, nor misses one that did.  A ``--by`` (or a body's ``by``) names the
person on the alert's timeline and goes into the entry's details; it never
replaces the actor.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# The actions an entry can record.
ACKNOWLEDGE, RESOLVE, NOTE = "acknowledge", "resolve", "note"
SILENCE_ADD, SILENCE_EXPIRE = "silence_add", "silence_expire"
RULE_ADD, RULE_UPDATE = "rule_add", "rule_update"
TOKEN_ADD, TOKEN_REVOKE = "token_add", "token_revoke"
ACTIONS = (ACKNOWLEDGE, RESOLVE, NOTE, SILENCE_ADD, SILENCE_EXPIRE, RULE_ADD, RULE_UPDATE, TOKEN_ADD, TOKEN_REVOKE)

MAX_NAME = 200  # characters of an actor name or a client address kept
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def login_name() -> str:
    """The login name of the user running this process (``USER`` when the system cannot say)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER") or "unknown"


def _clean(text: str) -> str:
    return _CONTROL.sub("", str(text)).strip()[:MAX_NAME]


@dataclass(frozen=True)
class Actor:
    """Who acts: a name (``cli:ann``, ``env``, ``slack:bob``, ``link``, a token's name) and, over
    HTTP, the client address.  Control characters are dropped and both are cut at 200 characters."""

    name: str
    client: str | None = None

    def __post_init__(self) -> None:
        name = _clean(self.name)
        object.__setattr__(self, "name", name or "unknown")
        if self.client is not None:
            object.__setattr__(self, "client", _clean(self.client) or None)

    @classmethod
    def local(cls) -> Actor:
        """The user running this process: ``cli:<login name>``."""
        return cls(f"cli:{login_name()}")

    def entry(self, action: str, target: str, at: int, details: dict[str, Any] | None = None) -> Entry:
        """The audit entry of this actor doing ``action`` to ``target`` at ``at`` (epoch ms)."""
        return Entry(
            at=at,
            actor=self.name,
            action=action,
            target=target,
            details={k: v for k, v in (details or {}).items() if v is not None},
            client=self.client,
        )


@dataclass(frozen=True)
class Entry:
    """One line of the audit log."""

    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    client: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``audit --json`` and ``GET /api/audit``: ``{"at", "actor", "action", "target", "details", "client"}``."""
        return {
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": dict(self.details),
            "client": self.client,
        }


def by_details(actor: Actor, by: str | None) -> dict[str, Any]:
    """``{"by": by}`` when a ``--by`` (or a body's ``by``) names someone other than the actor
    (``ann`` is not someone else than ``cli:ann``)."""
    return {"by": by} if by and by not in (actor.name, actor.name.removeprefix("cli:")) else {}


def record(store, actor: Actor, action: str, target: str, at: int, details: dict[str, Any] | None = None) -> Entry:
    """Write ``actor`` doing ``action`` to ``target`` into the audit log, inside the caller's open
    transaction (``with store.transaction(): ...`` around the change itself), and return the entry.
    What token commands and any other new face call: ``record(store, actor, TOKEN_ADD, name, now,
    {"scopes": [...], "expiresAt": ...})``."""
    from .store import audit as store_audit

    entry = actor.entry(action, target, at, details)
    store_audit.record(store, entry)
    return entry


def entries(ws, *, since: int | None = None, actor: str | None = None, limit: int | None = None) -> list[Entry]:
    """The audit log, newest first: entries at or after ``since`` (epoch ms), of ``actor`` when given."""
    from .store import audit as store_audit

    with ws.store() as store:
        rows = store_audit.entries(store, since=since, actor=actor, limit=limit)
    return [Entry(*row) for row in rows]
