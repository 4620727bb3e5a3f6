"""Adding and changing a rule in ``rules.yaml``: the edit transaction.

``rules add`` / ``rules update`` and the HTTP API's create/update call these
functions.  An edit

1. takes an exclusive lock on the rules file itself (so edits from the CLI and
   the API, whatever database each resolves, run one after the other);
2. checks the caller's rule: plain YAML values, no lone surrogate, and no
   ``${`` anywhere (a rule written by a caller is stored literally, so it can
   neither read the server's environment nor depend on a variable cron lacks);
3. edits the document in memory (``rules_style`` keeps comments, order,
   quoting and flow style, and quotes strings YAML 1.1 would misread);
4. runs the full loader (``config.load_text``) on the exact text it is about
   to write: size, alias and depth limits, the same YAML version, every check;
   and re-reads the rule from that text to be sure it reads back as given;
5. writes a temporary file beside the old one (same mode and owner) and
   renames it over it, so a ``check`` never reads half a file.

An invalid rule leaves the file byte-for-byte as it was.

Each edit then writes its audit entry (``audit.RULE_ADD`` / ``RULE_UPDATE``)
into the state database, right after the file was replaced and still under
the file's lock.  It is the one human action whose entry is not in the same
transaction as the action: the action is a file rename, which SQLite cannot
take part in.  The order makes the only possible gap (the process dies
between the rename and the insert) a missing entry for a change that the
file itself shows, never an entry for a change that did not happen.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audit import RULE_ADD, RULE_UPDATE, Actor
from .errors import ConfigError, ConfigNotWritable, StateLocked, UnknownRule, UsageError
from .rules_style import append_rule, file_uses_flow, merge_rule, round_trip_yaml

if TYPE_CHECKING:
    from .config import Config, Rule
    from .workspace import Workspace

__all__ = ["add_rule", "update_rule"]

_SCALARS = (str, int, float, bool)


def add_rule(target: Workspace | str | os.PathLike, rule: dict[str, Any], *, actor: Actor | None = None) -> Rule:
    """Append ``rule`` (a mapping with the rules.yaml keys) to the config's ``rules`` list.

    Raises ``ConfigError`` with the reason when the rule is invalid or its id
    is taken (the file is left unchanged)."""
    rule = _plain_rule(rule)
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise ConfigError("the rule has no 'id' (a name of [a-z0-9_]+, unique in rules.yaml)")

    def change(rules, lines) -> str:
        if any(isinstance(r, dict) and r.get("id") == rule_id for r in rules):
            raise ConfigError(
                f"a rule with id '{rule_id}' exists already",
                hint=f"change it with `pantry-alert rules update {rule_id} --file RULE.yaml`, or pick another id",
            )
        append_rule(rules, rule, lines)
        return rule_id

    return _edit(target, change, rule, actor, RULE_ADD)


def update_rule(
    target: Workspace | str | os.PathLike, rule_id: str, rule: dict[str, Any], *, actor: Actor | None = None
) -> Rule:
    """Change the rule ``rule_id``: each key given replaces the rule's value, a key given as
    null (``None``) is removed, keys not given stay as they are.

    Raises ``UnknownRule`` when no rule has that id, ``ConfigError`` with the
    reason when the changed rule is invalid (the file is left unchanged)."""
    rule = _plain_rule(rule, allow_null=True)
    if "id" in rule and rule["id"] != rule_id:
        raise ConfigError(
            f"the rule's id {rule['id']!r} differs from '{rule_id}': a rule cannot be renamed "
            "(its alerts are known by its id); add a new rule instead"
        )

    def change(rules, lines) -> str:
        for existing in rules:
            if isinstance(existing, dict) and existing.get("id") == rule_id:
                merge_rule(existing, rule, file_uses_flow(rules))
                return rule_id
        raise UnknownRule(
            f"no rule with id '{rule_id}' in the config", hint="`pantry-alert rules list` shows the rules and their ids"
        )

    return _edit(target, change, rule, actor, RULE_UPDATE)


# ------------------------------------------------------------------ the edit


def _workspace(target) -> Workspace:
    from .workspace import Workspace

    if isinstance(target, Workspace):
        return target
    return Workspace(config_path=str(target), db=os.environ.get("PANTRY_ALERT_DB") or None)


def _edit(
    target, change: Callable[[Any, list[str]], str], given: dict[str, Any], actor: Actor | None, action: str
) -> Rule:
    from .config import load

    ws = _workspace(target)
    path = Path(os.path.realpath(ws.config_path or os.environ.get("PANTRY_ALERT_CONFIG") or _default_config()))
    current = load(path, ws.env)  # the file must be valid before it is edited
    with file_lock(path, current.state.lock_timeout_ms) as lock:
        original = lock.text
        text, config, rule_id = _apply(path, original, change, given, ws.env)
        rule = config.rule(rule_id)
        if rule is not None and rule.description:
            _check_template(path, rule)
        lock.hold(_write_atomic(path, text))  # an editor opening the new file waits for the audit entry too
        _audit(ws, config, (actor or Actor.local()).entry(action, rule_id, ws.now(), {"rule": given}))
    ws._config = config
    assert rule is not None
    return rule


def _audit(ws: Workspace, config: Config, entry) -> None:
    """Write the edit's audit entry (the rename is done: see the module's docstring)."""
    from .errors import StateError
    from .store import audit, open_store
    from .workspace import resolve_db_path

    try:
        db_path = resolve_db_path(config, ws.db, ws.env)
        store = open_store(db_path, create=True, timeout_ms=config.state.lock_timeout_ms)
        try:
            with store.transaction():
                audit.record(store, entry)
        finally:
            store.close()  # not sealed: a rule edit leaves no file beside the database but the entry
    except StateError as exc:
        raise StateError(
            f"rule '{entry.target}' was written to {config.path}, but its audit entry was not: {exc.message}",
            hint=exc.hint,
        ) from None


def _default_config() -> str:
    from .workspace import DEFAULT_CONFIG

    return str(DEFAULT_CONFIG)


class file_lock:
    """An exclusive ``flock`` on the rules file itself, held while it is edited; ``text`` is what it held.

    The file is replaced by a rename, so a lock taken on the old file would no
    longer guard the path: after locking, the path must still name the file
    locked, else the lock is taken again on the new one.  The new file is locked
    before it takes the path (``hold`` keeps that lock), so the edit stays one
    critical section up to its end, the audit entry included."""

    def __init__(self, path: Path, timeout_ms: int):
        self.path, self.timeout_ms, self.fd = path, timeout_ms, -1
        self.held: list[int] = []  # the locks of the files that replaced it, kept until the edit ends
        self.text = ""

    def hold(self, fd: int) -> None:
        self.held.append(fd)

    def __enter__(self) -> file_lock:
        import fcntl
        import time

        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            fd = self._open()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        raise StateLocked(
                            f"{self.path} is being edited by another pantry-alert (waited {self.timeout_ms / 1000:g}s)",
                            hint="try again in a moment",
                        ) from None
                    time.sleep(0.02)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                self.fd = fd
                try:
                    self.text = self._read(fd)
                except BaseException:
                    self.__exit__()
                    raise
                return self
            os.close(fd)  # replaced while we waited: lock the new file

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {self.path}: {exc.strerror}") from None

    def _read(self, fd: int) -> str:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"config file {self.path} is not a regular file")
            return os.pread(fd, os.fstat(fd).st_size + 1, 0).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {self.path}: {exc}") from None

    def __exit__(self, *exc: object) -> None:
        for fd in [self.fd, *self.held]:
            if fd >= 0:
                os.close(fd)  # closing releases the flock
        self.fd, self.held = -1, []


def _apply(path: Path, original: str, change, given: dict[str, Any], env) -> tuple[str, Config, str]:
    """Edit ``original`` in memory: the new text, its validated config, and the rule id."""
    import io

    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.error import YAMLError

    yaml = round_trip_yaml(original)
    try:
        document = yaml.load(original)
    except YAMLError as exc:  # pyyaml accepted it, ruamel did not: say so rather than guess
        raise ConfigError(f"{path}: cannot be edited: ruamel.yaml cannot read it: {exc}") from None
    rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(rules, CommentedSeq):
        raise ConfigError(f"{path}: has no 'rules' list to edit")
    rule_id = change(rules, original.splitlines())
    out = io.StringIO()
    yaml.dump(document, out)
    text = out.getvalue()
    return text, _validate(path, text, rule_id, given, env), rule_id


def _validate(path: Path, text: str, rule_id: str, given: dict[str, Any], env) -> Config:
    """The text about to be written through the full loader, and the keys given read back from it."""
    import yaml

    from .config import load_text

    try:
        config = load_text(text, path, env)
    except ConfigError as exc:
        reasons = [_reason(path, rule_id, p) for p in exc.problems] or [_reason(path, rule_id, exc.message)]
        raise ConfigError(
            f"rule '{rule_id}' is invalid: " + "; ".join(reasons),
            hint="nothing was written; fix the rule and try again",
            problems=[],
        ) from None
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    back = next(r for r in data["rules"] if isinstance(r, dict) and r.get("id") == rule_id)
    changed = sorted(k for k, v in given.items() if back.get(k) != v or type(back.get(k)) is not type(v))
    if changed:
        raise ConfigError(
            f"rule '{rule_id}' cannot be written: {', '.join(changed)} would not read back as given",
            hint="nothing was written; quote the value",
        )
    return config


def _reason(path: Path, rule_id: str, problem: str) -> str:
    """A config problem without the would-be file's line, the rule's name and its list index."""
    problem = re.sub(r"^" + re.escape(str(path)) + r"(:\d+)?: ?", "", problem)
    problem = problem.removeprefix(f"rule '{rule_id}': ")
    return re.sub(r"\brules\.\d+\.", "", problem)


def _check_template(path: Path, rule: Rule) -> None:
    from .errors import ExpressionError
    from .templates import check_template

    try:
        check_template(rule.description or "")
    except ExpressionError as exc:
        raise ConfigError(
            f"rule '{rule.id}' is invalid: description: invalid description template: {exc}",
            hint="nothing was written; fix the rule and try again",
        ) from None


def _write_atomic(path: Path, text: str) -> int:
    """Write ``text`` to a temporary file beside ``path`` (same mode and owner) and rename it over ``path``;
    the new file comes locked: the descriptor holding its lock is returned."""
    from .files import replace_file

    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigNotWritable(f"cannot write {path}: {exc.strerror}") from None
    try:
        held = replace_file(
            path, text, mode=stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid), keep_locked=True
        )
    except OSError as exc:
        raise ConfigNotWritable(
            f"cannot write {path}: {exc.strerror}; it was left as it was",
            hint="the user running pantry-alert needs write access to its directory",
        ) from None
    assert held is not None
    return held


# ------------------------------------------------------------ the rule itself


def _plain_rule(rule: Any, *, allow_null: bool = False) -> dict[str, Any]:
    """Check that ``rule`` is a mapping of plain YAML values (the config loader checks the rest)."""
    if not isinstance(rule, dict):
        raise ConfigError(f"a rule must be a mapping of rules.yaml keys, not {_kind(rule)}")
    if not rule:
        raise ConfigError("the rule is empty")
    from .text import check_input

    try:
        check_input(rule, "rule")
    except UsageError as exc:
        raise ConfigError(exc.message.removeprefix("rule.").replace("rule: ", "", 1), hint=exc.hint) from None

    def check(value: Any, where: str) -> None:
        if isinstance(value, str) and "${" in value:
            raise ConfigError(
                f"rule key {where}: '${{' is not allowed in a rule written by rules add/update or the API "
                "(no variable is filled in from the environment of the server)",
                hint="write the value itself; a ${VAR} may only be written into rules.yaml by hand",
            )
        if value is None or isinstance(value, _SCALARS):
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                check(item, f"{where}[{i}]")
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(f"rule key {where}.{key!r} must be a string")
                check(item, f"{where}.{key}")
            return
        raise ConfigError(f"rule key {where}: {_kind(value)} is not a YAML value")

    out: dict[str, Any] = {}
    for key, value in rule.items():
        if not isinstance(key, str):
            raise ConfigError(f"rule key {key!r} must be a string")
        check(value, key)
        if value is None and not allow_null:
            continue  # absent
        out[key] = value
    return out


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)
