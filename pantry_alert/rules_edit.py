"""Adding and changing a rule in ``rules.yaml`` without disturbing the rest of the file.

``rules add`` / ``rules update`` and the HTTP API's create/update call these
functions.  The file is edited with ruamel.yaml's round-trip mode, so the
user's comments, key order, quoting and flow style survive and ``diff``
shows only the rule that changed; a new rule borrows the quoting and flow
style of the rules already there.  The whole edited document is validated
with the same code that loads the config (unique id, known channels,
condition, description template) before anything is written; an invalid
rule leaves the file byte-for-byte as it was.  The new file is written to a
temporary file in the same directory (same mode) and renamed over the old
one, under the run lock, so a ``check`` never reads half a file.

Each edit writes its audit entry (``audit.RULE_ADD`` / ``RULE_UPDATE``) into
the state database right after the file was replaced, still under the run
lock.  It is the one human action whose entry is not in the same
transaction as the action: the action is a file rename, which SQLite cannot
take part in.  The order makes the only possible gap (the process dies
between the rename and the insert) a missing entry for a change that the
file itself shows, never an entry for a change that did not happen.

ruamel.yaml is imported only here, inside the functions.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .audit import RULE_ADD, RULE_UPDATE, Actor
from .errors import ConfigError, ConfigNotWritable, UnknownRule

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
        _append_rule(rules, rule, lines)
        return rule_id

    return _edit(target, change, actor, RULE_ADD, rule)


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
                _merge_rule(existing, rule, _file_uses_flow(rules))
                return rule_id
        raise UnknownRule(
            f"no rule with id '{rule_id}' in the config", hint="`pantry-alert rules list` shows the rules and their ids"
        )

    return _edit(target, change, actor, RULE_UPDATE, rule)


# ------------------------------------------------------------------ the edit


def _workspace(target) -> Workspace:
    from .workspace import Workspace

    if isinstance(target, Workspace):
        return target
    return Workspace(config_path=str(target), db=os.environ.get("PANTRY_ALERT_DB") or None)


def _yaml(text: str):
    """A round-trip YAML instance set up for ``text``'s indentation (the usual 2/4/2 when unsure)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = YAML()
    mapping, sequence, offset = 2, 4, 2
    try:
        _, guessed_sequence, guessed_offset = load_yaml_guess_indent(text)
    except Exception:  # the real load below reports the problem
        guessed_sequence = guessed_offset = None
    if guessed_sequence and guessed_offset is not None and guessed_sequence > guessed_offset:
        # "rules:\n  - id: x\n    name: y" is sequence 4, offset 2, and its mappings indent by 2
        sequence, offset = guessed_sequence, guessed_offset
        mapping = sequence - offset if offset else sequence
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _edit(
    target, change: Callable[[Any, list[str]], str], actor: Actor | None, action: str, given: dict[str, Any]
) -> Rule:
    from .config import load
    from .store import run_lock
    from .workspace import DEFAULT_CONFIG, resolve_db_path

    ws = _workspace(target)
    path = Path(os.path.realpath(ws.config_path or DEFAULT_CONFIG))
    current = load(path, ws.env)  # the file must be valid before it is edited
    db_path = resolve_db_path(current, ws.db, ws.env)
    with run_lock(db_path, current.state.lock_timeout_ms):
        try:
            original = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        text, config, rule_id = _apply(path, original, change, ws.env)
        rule = config.rule(rule_id)
        if rule is not None and rule.description:
            _check_template(path, rule)
        _write_atomic(path, text)
        _audit(db_path, config, (actor or Actor.local()).entry(action, rule_id, ws.now(), {"rule": given}))
    ws._config = config
    assert rule is not None
    return rule


def _audit(db_path: Path, config: Config, entry) -> None:
    """Write the edit's audit entry (the rename is done: see the module's docstring)."""
    from .errors import StateError
    from .store import audit, open_store

    try:
        with open_store(db_path, create=True, timeout_ms=config.state.lock_timeout_ms) as store, store.transaction():
            audit.record(store, entry)
    except StateError as exc:
        raise StateError(
            f"rule '{entry.target}' was written to {config.path}, but its audit entry was not: {exc.message}",
            hint=exc.hint,
        ) from None


def _apply(path: Path, original: str, change, env) -> tuple[str, Config, str]:
    """Edit ``original`` in memory: the new text, its validated config, and the rule id."""
    import io

    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.error import YAMLError

    yaml = _yaml(original)
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
    return text, _validate(path, text, rule_id, env), rule_id


def _validate(path: Path, text: str, rule_id: str, env) -> Config:
    """The edited document through the config loader's own checks."""
    import yaml

    from .config import parse

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return parse(data, path, text, env)
    except yaml.YAMLError as exc:
        raise ConfigError(f"rule '{rule_id}' cannot be written: it does not give valid YAML: {exc}") from None
    except ConfigError as exc:
        reasons = [_reason(path, rule_id, p) for p in exc.problems] or [exc.message]
        raise ConfigError(
            f"rule '{rule_id}' is invalid: " + "; ".join(reasons),
            hint="nothing was written; fix the rule and try again",
            problems=[],
        ) from None


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


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (same mode and owner) and rename it over ``path``."""
    from .files import replace_file

    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigNotWritable(f"cannot write {path}: {exc.strerror}") from None
    try:
        replace_file(path, text, mode=stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid))
    except OSError as exc:
        raise ConfigNotWritable(
            f"cannot write {path}: {exc.strerror}; it was left as it was",
            hint="the user running pantry-alert needs write access to its directory",
        ) from None


# ------------------------------------------------------------ the rule itself


def _plain_rule(rule: Any, *, allow_null: bool = False) -> dict[str, Any]:
    """Check that ``rule`` is a mapping of plain YAML values (the config loader checks the rest)."""
    if not isinstance(rule, dict):
        raise ConfigError(f"a rule must be a mapping of rules.yaml keys, not {_kind(rule)}")
    if not rule:
        raise ConfigError("the rule is empty")

    def check(value: Any, where: str) -> None:
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


def _styled(value: Any, like: Any, flow: bool) -> Any:
    """``value`` as a ruamel node dressed like ``like`` (an existing value of the same key)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(value, str):
        if isinstance(like, (DoubleQuotedScalarString, SingleQuotedScalarString)) and "\n" not in value:
            return type(like)(value)
        return value
    if isinstance(value, list):
        seq = CommentedSeq(_styled(item, None, flow) for item in value)
        if _flow_of(like, flow):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _styled(item, like.get(key) if isinstance(like, dict) else None, flow)
        if _flow_of(like, flow):
            mapping.fa.set_flow_style()
        return mapping
    return value


def _flow_of(like: Any, default: bool) -> bool:
    fa = getattr(like, "fa", None)
    if fa is not None and fa.flow_style() is not None:
        return bool(fa.flow_style())
    return default


def _file_uses_flow(rules) -> bool:
    """Whether the rules write their lists and mappings in flow style (``[a, b]``)."""
    styles = [
        value.fa.flow_style()
        for rule in rules
        if isinstance(rule, dict)
        for value in rule.values()
        if hasattr(value, "fa") and value.fa.flow_style() is not None
    ]
    return bool(styles) and sum(map(bool, styles)) * 2 >= len(styles)


def _like(rules, key: str) -> Any:
    """A value of ``key`` to dress a new one like: for strings, the most common quoting among the
    rules (the nearest rule wins a tie; plain when most are plain); otherwise the nearest rule's."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    values = [r[key] for r in reversed(rules) if isinstance(r, dict) and key in r]
    if not values:
        return None
    strings = [v for v in values if isinstance(v, str)]
    if not strings:
        return values[0]
    quoted = [v for v in strings if isinstance(v, (DoubleQuotedScalarString, SingleQuotedScalarString))]
    if len(quoted) * 2 <= len(strings):
        return None
    double = [v for v in quoted if isinstance(v, DoubleQuotedScalarString)]
    single = [v for v in quoted if isinstance(v, SingleQuotedScalarString)]
    if len(double) != len(single):
        return (double if len(double) > len(single) else single)[0]
    return quoted[0]


def _append_rule(rules, rule: dict[str, Any], lines: list[str]) -> None:
    from ruamel.yaml.comments import CommentedMap

    flow = _file_uses_flow(rules)
    node = CommentedMap()
    for key, value in rule.items():
        node[key] = _styled(value, _like(rules, key), flow)
    rules.append(node)
    _separate_like_others(rules, lines)


def _separate_like_others(rules, lines: list[str]) -> None:
    """When the rule before the new (last) one was set apart from its predecessor by a blank
    line, set the new one apart too.  ruamel keeps such a blank line as a comment "before" the
    sequence item."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if len(rules) < 3:
        return
    line = getattr(getattr(rules[-2], "lc", None), "line", None)
    if not line or line > len(lines) or lines[line - 1].strip():
        return
    rules.ca.items[len(rules) - 1] = [None, [CommentToken("\n", CommentMark(0), None)], None, None]


def _merge_rule(existing, changes: dict[str, Any], flow: bool) -> None:
    """Apply ``changes`` to a rule's mapping in place, touching only the keys whose value changes."""
    for key, value in changes.items():
        if value is None:
            if key in existing:
                _delete_key(existing, key)
            continue
        if key in existing:
            if _plain(existing[key]) == value and type(_plain(existing[key])) is type(value):
                continue  # unchanged: keep its quoting and comments
            existing[key] = _styled(value, existing[key], _flow_of(existing[key], flow))
        else:
            _append_key(existing, key, _styled(value, None, flow))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _split_trailer(token) -> tuple[Any, Any]:
    """A key's end-of-line comment token as (what stays on its line, the blank lines after it)."""
    text = token.value
    newline = text.find("\n")
    if newline < 0 or not text[newline + 1 :]:
        return token, None
    keep, moved = copy.deepcopy(token), copy.deepcopy(token)
    keep.value = text[: newline + 1]
    moved.value = "\n" + text[newline + 1 :]
    return (keep if text[:newline].strip() else None), moved


def _append_key(mapping, key: str, value: Any) -> None:
    """Add a key at the end of a rule; blank lines that followed the old last key move below it."""
    last = list(mapping)[-1] if mapping else None
    entry = mapping.ca.items.get(last) if last is not None else None
    mapping[key] = value
    if not entry or len(entry) < 3 or entry[2] is None or isinstance(value, (dict, list)):
        return
    keep, moved = _split_trailer(entry[2])
    if moved is None:
        return
    entry[2] = keep
    if not any(entry):
        del mapping.ca.items[last]
    mapping.ca.items[key] = [None, None, moved, None]


def _delete_key(mapping, key: str) -> None:
    """Remove a key; when it was the last one, the blank lines after it stay with the rule."""
    keys = list(mapping)
    entry = mapping.ca.items.get(key)
    del mapping[key]
    if keys[-1] != key or len(keys) < 2 or not entry or len(entry) < 3 or entry[2] is None:
        return
    _, moved = _split_trailer(entry[2])
    new_last = keys[-2]
    if moved is not None and new_last not in mapping.ca.items and not isinstance(mapping[new_last], (dict, list)):
        mapping.ca.items[new_last] = [None, None, moved, None]
