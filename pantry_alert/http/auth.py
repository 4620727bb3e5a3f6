"""Who a request is: bearer tokens on ``/api/`` and ``/metrics``, sessions for the console.

``Credentials`` keeps the stored tokens and the console's sessions in
memory and reads them again whenever the state database has changed
(``PRAGMA data_version``, microseconds per request), so ``token add`` and
``token revoke`` on the command line count at once on a running server.

``BearerAuth`` (a pure ASGI middleware) checks the token and its scope before
the route runs and before any body is read: no or a bad token is 401, the
wrong scope 403, and in both cases nothing changes.  The principal (token
name and scopes) goes on the request as ``request.state.principal``, and
its name as ``request.state.actor``.
"""

from __future__ import annotations

import hmac
import re
import threading
import time

from ..tokens import NO_AUTH, Principal, Session, TokenTable, env_principal, load_sessions, load_table, record_use

USE_RECORD_INTERVAL = 60.0  # seconds between two "last used" writes for one token

# Writes and the scope they need; every GET needs "read" except those listed in ADMIN_READS.
_WRITE_SCOPES = (
    (re.compile(r"^/api/alerts/rules(/|$)"), "rules"),
    (re.compile(r"^/api/alerts/[^/]+/(resolve|acknowledge|notes?)$"), "ack"),
    (re.compile(r"^/api/(silences|maintenance)(/|$)"), "silence"),
)
_ADMIN_READS = re.compile(r"^/api/(audit|tokens)(/|$)")


def protected(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path == "/metrics" or path.startswith("/metrics/")


def api_scope(method: str, path: str) -> str:
    """The scope an API request needs."""
    if _ADMIN_READS.match(path):
        return "admin"
    if method in ("GET", "HEAD"):
        return "read"
    for pattern, scope in _WRITE_SCOPES:
        if pattern.match(path):
            return scope
    return "admin"


class Credentials:
    """The tokens and sessions as of the state database's last change."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._table: TokenTable | None = None
        self._sessions: dict[str, Session] = {}
        self._used: dict[str, float] = {}
        token = ctx.token
        self._env = (token.encode("utf-8", "surrogatepass"), env_principal(token)) if token else None

    def fresh(self) -> tuple[TokenTable, dict[str, Session]] | None:
        """The tokens and sessions when nothing changed since they were read (cheap: for the event loop)."""
        version = self.ctx.state_version()
        with self._lock:
            if self._table is not None and version is not None and version == self._version:
                return self._table, self._sessions
        return None

    def current(self) -> tuple[TokenTable, dict[str, Session]]:
        """The tokens and sessions, read again when the database changed (blocking: a worker thread's)."""
        version = self.ctx.state_version()
        with self._lock:
            if self._table is not None and version is not None and version == self._version:
                return self._table, self._sessions
        ws = self.ctx.workspace()
        table = load_table(ws, self.ctx.token)
        sessions = load_sessions(ws, table, ws.now(), no_auth=self.ctx.no_auth)
        with self._lock:
            self._version, self._table, self._sessions = version, table, sessions
        return table, sessions

    def session(self, cookie: str | None) -> Session | None:
        """The live session of a cookie value, else None (unknown, expired, or its token gone)."""
        if not cookie:
            return None
        from ..tokens import token_hash

        _, sessions = self.current()
        session = sessions.get(token_hash(cookie))
        now = self.ctx.workspace().now()
        if session is None or now >= session.expires_at or not session.principal.live(now):
            return None
        return session

    def env_token(self, presented: str) -> Principal | None:
        """The admin token ``env`` when ``presented`` (a header value, decoded as Latin-1) is the
        server's own token, compared as bytes in constant time."""
        if self._env is None:
            return None
        if hmac.compare_digest(presented.encode("latin-1"), self._env[0]):
            return self._env[1]
        return None

    def use_due(self, principal: Principal, table: TokenTable) -> bool:
        """Whether to record "last used" for a stored token now (at most once a minute per token)."""
        if principal.hash not in table.by_hash:
            return False  # env, or no authentication
        moment = time.monotonic()
        with self._lock:
            last = self._used.get(principal.name)
            if last is not None and moment - last < USE_RECORD_INTERVAL:
                return False
            self._used[principal.name] = moment
        return True

    def record_use(self, principal: Principal) -> None:
        ws = self.ctx.workspace()
        record_use(ws, principal.name, ws.now())


def bearer_token(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").strip().partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else ""
    return ""


class BearerAuth:
    def __init__(self, app, credentials: Credentials):
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and protected(scope["path"]):
            from starlette.concurrency import run_in_threadpool

            from .common import fail

            credentials = self.credentials
            principal: Principal | None = None
            given = ""
            if credentials.ctx.no_auth:
                principal = NO_AUTH
            elif given := bearer_token(scope):
                principal = credentials.env_token(given)  # the server's own token: no table to read
            if principal is None and given:
                known = credentials.fresh()
                if known is None:
                    known = await run_in_threadpool(credentials.current)
                table = known[0]
                principal = table.find(given, credentials.ctx.workspace().now())
                if principal is not None and credentials.use_due(principal, table):
                    from .writes import run_write

                    await run_write(credentials.record_use, principal)
            if principal is None:
                message = "missing or invalid API token (send Authorization: Bearer <token>)"
                response = fail(401, message, headers={"WWW-Authenticate": 'Bearer realm="pantry-alert"'})
                await response(scope, receive, send)
                return
            needed = api_scope(scope["method"], scope["path"])
            if not principal.allows(needed):
                response = fail(
                    403,
                    f"token '{principal.name}' lacks the scope '{needed}' (it has: {', '.join(sorted(principal.scopes))})",
                    hint="`pantry-alert token add NAME --scope ...` makes a token with more scopes",
                )
                await response(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            state["principal"] = principal
            state["actor"] = principal.name
        await self.app(scope, receive, send)
