"""Reading rules.yaml's values with every problem collected, each with its file and line.

``Problems`` gathers the problems of a whole document (problems under
``channels.<name>`` apart: they stop only what sends through that channel);
the small checkers below read one value each (a URL, a duration, a mapping,
headers, a channel list), report what is wrong and return a usable default.
``interpolate`` fills ``${VAR}`` and remembers which values came from the
environment, so that no message ever shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigProblem
from ..notify.registry import CHANNEL_NAMES
from ..timeutil import parse_duration
from ..urls import is_http_url, why_not

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")  # never in a header, token or password
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Problems:
    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text
        self.items: list[str] = []
        self.located: list[ConfigProblem] = []  # every problem with its key path and line, in order found
        self._root: Any = None  # the composed YAML node tree, made on the first error
        self.uninterpolated: set[tuple] = set()  # keys whose ${VAR} could not be filled: not checked further
        self.rule_ids: list = []  # rule ids by index, to name the rule in a problem
        self.channel_items: dict[str, list[str]] = {}  # problems under channels.<name>, by channel
        self.raw: Any = None  # the document before ${VAR} interpolation
        self.substitutions: dict[str, str] = {}  # value from the environment -> "${VAR}"

    def template(self, keys: tuple) -> Any:
        """The value at ``keys`` as written in the file (before interpolation)."""
        node = self.raw
        for key in keys:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def line(self, keys: tuple) -> int | None:
        """Line (1-based) of the node at ``keys``; the YAML is composed only on error."""
        import yaml

        if self._root is None:
            try:
                self._root = yaml.compose(self.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError:
                return None
        node = self._root
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                found = None
                for k, v in node.value:
                    if k.value == key:
                        found = (k, v)
                        break
                if found is None:
                    break
                node = found[1] if key != keys[-1] else found[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
            else:
                break
        return node.start_mark.line + 1 if node is not None else None

    def format(self, keys: tuple, message: str, rule_id: str | None = None) -> str:
        return self._locate(keys, message, rule_id).text

    def _locate(self, keys: tuple, message: str, rule_id: str | None = None) -> ConfigProblem:
        line = self.line(keys)
        where = f"{self.path}:{line}" if line else str(self.path)
        rule = f" rule '{rule_id}':" if rule_id else ""
        message = unexpand(message, self.substitutions)
        dotted = ".".join(str(k) for k in keys)
        return ConfigProblem(f"{where}:{rule} {dotted + ': ' if dotted else ''}{message}", keys, line)

    def add(self, keys: tuple, message: str, rule_id: str | None = None) -> None:
        channel = len(keys) >= 2 and keys[0] == "channels" and keys[1] in CHANNEL_NAMES
        found = self._locate(keys, message, None if channel else rule_id)
        self.located.append(found)
        if channel:
            self.channel_items.setdefault(keys[1], []).append(found.text)
            return
        self.items.append(found.text)


def interpolate(value, keys: tuple, env: Mapping[str, str], problems: Problems):
    if isinstance(value, dict):
        return {k: interpolate(v, keys + (k,), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, keys + (i,), env, problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def replace(match):
            name, default = match.group(1), match.group(2)
            got = env.get(name)
            if got:
                if len(got) >= 3:
                    problems.substitutions[got] = f"${{{name}}}"
                return got
            if default is not None:
                return default
            rule_id = None
            if len(keys) > 1 and keys[0] == "rules" and isinstance(keys[1], int) and keys[1] < len(problems.rule_ids):
                rule_id = problems.rule_ids[keys[1]]
            problems.add(
                keys,
                f"environment variable ${{{name}}} is not set (set it, or write ${{{name}:-default}})",
                rule_id if isinstance(rule_id, str) else None,
            )
            problems.uninterpolated.add(keys)
            return ""

        return _VAR.sub(replace, value)
    return value


def unexpand(text: str, substitutions: Mapping[str, str]) -> str:
    """Replace values that came from the environment by their ``${VAR}`` (longest first)."""
    for value in sorted(substitutions, key=len, reverse=True):
        if value in text:
            text = text.replace(value, substitutions[value])
    return text


def url_setting(value, keys, problems, rule_id=None) -> str | None:
    if value in (None, ""):
        return None
    if not is_http_url(value):
        written = problems.template(keys)  # as written: an interpolated secret is never shown
        shown = written if isinstance(written, str) else value
        problems.add(keys, f"{shown!r} is not a valid URL ({why_not(shown)})", rule_id)
        return None
    return value


def header_settings(value, keys, problems) -> dict[str, str]:
    """Header names and values: text without control characters (CR, LF, ...), which no HTTP header may hold."""
    headers = mapping_setting(value, keys, problems)
    out = {}
    for name, val in headers.items():
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            problems.add(keys + (name,), "a header value must be a string")
            continue
        if CONTROL_CHARS.search(str(name)):
            problems.add(keys, "a header name contains a control character")
            continue
        if CONTROL_CHARS.search(str(val)):
            problems.add(
                keys + (name,),
                "the header value contains a control character (CR, LF or another; an env file with CRLF "
                "line endings?); the value is not shown",
            )
            continue
        out[str(name)] = str(val)
    return out


def unknown_keys(section: dict, allowed: set, keys: tuple, problems: Problems, rule_id=None) -> None:
    for key in section:
        if key not in allowed:
            hint = ", ".join(sorted(allowed)) or "none"
            problems.add(keys + (key,), f"unknown key '{key}' (allowed: {hint})", rule_id)


def duration_setting(section, key, default, keys, problems, rule_id=None, bare_unit=None, positive=False) -> int:
    if key not in section or section[key] is None:
        return default
    try:
        value = parse_duration(section[key], bare_unit=bare_unit, what=key)
    except ValueError as exc:
        problems.add(keys + (key,), str(exc).split(": ", 1)[-1], rule_id)
        return default
    if positive and value <= 0:
        problems.add(keys + (key,), f"must be more than 0, not {section[key]!r}", rule_id)
        return default
    return value


def mapping_setting(value, keys, problems, rule_id=None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(keys, f"must be a mapping, not {type(value).__name__}", rule_id)
        return {}
    return value


def bool_setting(section, key, default, keys, problems, rule_id=None) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        problems.add(keys + (key,), f"must be true or false, not {value!r}", rule_id)
        return default
    return value


def channel_list(value, keys, problems, rule_id=None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        problems.add(keys, "must be a list of channel names", rule_id)
        return []
    for name in value:
        if name not in CHANNEL_NAMES:
            problems.add(keys, f"unknown channel '{name}' (channels: {', '.join(CHANNEL_NAMES)})", rule_id)
    return [c for c in value if c in CHANNEL_NAMES]


def zone_ok(name: Any) -> bool:
    """Whether ``name`` is a time zone this system knows (an IANA name like Europe/Berlin)."""
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(str(name))
    except Exception:
        return False
    return True
