"""What the server knows about the installation, shared by every request."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError
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
    token: str | None = field(default=None, repr=False)
    _workspace: Workspace | None = field(default=None, repr=False)
    _stamp: tuple | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
