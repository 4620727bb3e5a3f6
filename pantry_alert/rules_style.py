"""How rule edits keep ``rules.yaml`` looking as its author wrote it.

Rule edits (``rules_edit``) change the file with ruamel.yaml's round-trip
mode: comments, key order, quoting, flow style and blank lines survive, and a
new rule borrows the quoting and flow style of the rules already there.

One more duty: the loader reads YAML 1.1 (PyYAML) while ruamel writes YAML
1.2, so a string such as ``yes``, ``on``, ``NO`` or ``0o17`` written plain
would come back as a boolean or a number.  ``styled`` quotes every string
that YAML 1.1 would not read back as that same string.

ruamel.yaml is imported only here and in ``rules_edit``, inside the functions.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["append_rule", "file_uses_flow", "merge_rule", "round_trip_yaml"]


def round_trip_yaml(text: str):
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


def needs_quotes(value: str) -> bool:
    """Whether YAML 1.1 (the loader) would read ``value`` written plain as anything but this string."""
    import yaml

    resolver = yaml.resolver.Resolver()
    return resolver.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str"


def _styled(value: Any, like: Any, flow: bool) -> Any:
    """``value`` as a ruamel node dressed like ``like`` (an existing value of the same key)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    if isinstance(value, str):
        if isinstance(like, (DoubleQuotedScalarString, SingleQuotedScalarString)) and "\n" not in value:
            return type(like)(value)
        if needs_quotes(value):
            return DoubleQuotedScalarString(value)
        return value
    if isinstance(value, list):
        seq = CommentedSeq(_styled(item, None, flow) for item in value)
        if _flow_of(like, flow):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            name = DoubleQuotedScalarString(key) if isinstance(key, str) and needs_quotes(key) else key
            mapping[name] = _styled(item, like.get(key) if isinstance(like, dict) else None, flow)
        if _flow_of(like, flow):
            mapping.fa.set_flow_style()
        return mapping
    return value


def _flow_of(like: Any, default: bool) -> bool:
    fa = getattr(like, "fa", None)
    if fa is not None and fa.flow_style() is not None:
        return bool(fa.flow_style())
    return default


def file_uses_flow(rules) -> bool:
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


def append_rule(rules, rule: dict[str, Any], lines: list[str]) -> None:
    from ruamel.yaml.comments import CommentedMap

    flow = file_uses_flow(rules)
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


def merge_rule(existing, changes: dict[str, Any], flow: bool) -> None:
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
