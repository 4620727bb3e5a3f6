"""Where a pantry-alert installation keeps its things: the config file, the state database, "now".

The command line and the HTTP server both start from a ``Workspace``: it
loads ``rules.yaml`` once, resolves the database path the same way for both,
and reads the clock (``PANTRY_ALERT_NOW`` or the real one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .paths import DEFAULT_CONFIG, resolve_db_path
from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .config import Config
    from .store import Store


class Workspace(Record):
    """A config path, an optional database override and an environment; everything else on demand."""

    config_path: str | None
    db: str | None
    env: Mapping[str, str]
    _config: Config | None
    _fields = ("config_path", "db", "env", "_config")
    _shown = ("config_path", "db", "env")

    def __init__(
        self,
        config_path: str | None = None,
        db: str | None = None,
        env: Mapping[str, str] | None = None,
        _config: Config | None = None,
    ) -> None:
        self.config_path = config_path
        self.db = db
        self.env = os.environ if env is None else env
        self._config = _config

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Workspace:
        env = os.environ if env is None else env
        return cls(config_path=env.get("PANTRY_ALERT_CONFIG") or None, db=env.get("PANTRY_ALERT_DB") or None, env=env)

    def config(self, *, check_templates: bool = False) -> Config:
        if self._config is None or check_templates:
            from .config import load

            self._config = load(self.config_path or DEFAULT_CONFIG, self.env, check_templates=check_templates)
        return self._config

    def db_path(self) -> Path:
        return resolve_db_path(self.config(), self.db, self.env)

    def now(self) -> int:
        from .timeutil import now_ms

        return now_ms(self.env)

    def store(self, *, create: bool = False) -> Store:
        from .store import open_store

        return open_store(self.db_path(), create=create, timeout_ms=self.config().state.lock_timeout_ms)
