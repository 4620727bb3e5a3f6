"""What the server knows about the installation, shared by every request."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..store import Store, open_watch
from ..workspace import DEFAULT_CONFIG, Workspace

log = logging.getLogger("pantry_alert.http")


def _stamp(path: str) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass
class ServerContext:
    """The config path, the database option and the environment the server started with.

    ``workspace()`` hands out a ``Workspace`` whose config is reloaded when
    ``rules.yaml`` changes on disk (a rule edit through the API or the command
    line, or by hand), so the server needs no restart for rule changes.  A
    file that no longer loads is logged and the last good config is kept.
    The clock (``PANTRY_ALERT_NOW`` or the real one) is read per request.
    """

    config_path: str | None
    db: str | None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    token: str | None = field(default=None, repr=False)  # PANTRY_ALERT_API_TOKEN / api.token: the "env" token
    no_auth: bool = False  # --no-auth: nobody signs in, every request acts as "anonymous"
    _workspace: Workspace | None = field(default=None, repr=False)
    _stamp: tuple | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _watch: ChangeWatch = field(default_factory=lambda: ChangeWatch(), repr=False)

    @property
    def path(self) -> str:
        return self.config_path or DEFAULT_CONFIG

    def load(self) -> Workspace:
        """Load the config now (at start-up: errors reach the caller)."""
        stamp = _stamp(self.path)
        ws = Workspace(config_path=self.config_path, db=self.db, env=self.env)
        ws.config()
        self._workspace, self._stamp = ws, stamp
        return ws

    def workspace(self) -> Workspace:
        stamp = _stamp(self.path)
        current = self._workspace
        if current is not None and stamp == self._stamp:
            return current
        with self._lock:
            if self._workspace is not None and stamp == self._stamp:
                return self._workspace
            ws = Workspace(config_path=self.config_path, db=self.db, env=self.env)
            try:
                ws.config()
            except ConfigError as exc:
                if self._workspace is None:
                    raise
                log.warning("%s changed but does not load (%s); keeping the last good config", self.path, exc.message)
                self._stamp = stamp  # warn once per change
                return self._workspace
            self._workspace, self._stamp = ws, stamp
            return ws

    def hit(self, key: tuple) -> bytes | None:
        """The cached answer for ``key`` while the database has not changed since it was computed;
        None otherwise.  Cheap (two ``stat`` calls and ``PRAGMA data_version``), so the event loop
        may call it directly and go to the thread pool only on a miss."""
        ws = self.workspace()
        token = self._watch.token(ws.db_path())
        return None if token is None else self._watch.get(key, token)

    def state_version(self) -> tuple | None:
        """Changes whenever the state database does (None: no database yet)."""
        return self._watch.token(self.workspace().db_path())

    def cached(self, key: tuple, compute: Callable[[Workspace], bytes]) -> bytes:
        """``compute(ws)``'s answer, reused while the state database has not changed.

        For the hot read routes (a dashboard polling the active alerts): the
        answer depends only on the database, so it stays valid until some
        connection commits, which SQLite's ``PRAGMA data_version`` reveals in
        microseconds.  The version is read *before* computing, so a commit
        during the computation only makes the next request compute again."""
        ws = self.workspace()
        path = ws.db_path()
        token = self._watch.token(path)
        if token is not None:
            hit = self._watch.get(key, token)
            if hit is not None:
                return hit
        body = compute(ws)
        if token is not None:
            self._watch.put(key, token, body)
        return body


class ChangeWatch:
    """One query-only connection that only asks the database whether it changed, plus a small cache."""

    MAX_ENTRIES = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._identity: tuple | None = None
        self._cache: OrderedDict[tuple, tuple[Any, bytes]] = OrderedDict()

    def token(self, path) -> tuple | None:
        """(file identity, data version); None when there is nothing to watch (no database yet)."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        identity = (str(path), info.st_dev, info.st_ino)
        with self._lock:
            try:
                if self._store is None or identity != self._identity:
                    self._close()
                    self._store = open_watch(path)
                    self._identity = identity
                    self._cache.clear()
                version = self._store.data_version()
            except sqlite3.Error:
                self._close()
                return None
        return identity + (version,)

    def get(self, key: tuple, token: tuple) -> bytes | None:
        with self._lock:
            entry = self._cache.get(key)
            return entry[1] if entry is not None and entry[0] == token else None

    def put(self, key: tuple, token: tuple, body: bytes) -> None:
        with self._lock:
            self._cache[key] = (token, body)
            self._cache.move_to_end(key)
            while len(self._cache) > self.MAX_ENTRIES:
                self._cache.popitem(last=False)

    def _close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except sqlite3.Error:
                pass
        self._store, self._identity = None, None
        self._cache.clear()
