"""Text made safe for a terminal.

Metric strings end up in descriptions, and descriptions in every human
output.  A metric holding ``\\x1b[2J``, an OSC sequence, ``\\r`` or ``\\n``
could clear a screen, retitle a terminal or forge a ``RESOLVED`` line in
cron mail; so human output shows control characters escaped, as Python
would write them (``\\x1b``, ``\\n``, ``\\u202e``).  JSON output escapes
them by itself.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, line/paragraph separators, bidirectional overrides and
# isolates (which reorder what is shown), and lone surrogates (not encodable).
_UNSAFE_CHARS = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_unsafe = None  # the compiled pattern, made at the first use (not every run prints)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text) -> str:
    """``text`` with every control character shown as an escape; safe to print on one line."""
    global _unsafe
    if _unsafe is None:
        _unsafe = re.compile(_UNSAFE_CHARS)
    text = "" if text is None else str(text)
    return _unsafe.sub(_escape, text)


def one_line(text) -> str:
    """``text`` for a subject, a title or an error line: each run of whitespace (line breaks and tabs
    included) becomes one space, and none is left at either end."""
    import re

    return re.sub(r"\s+", " ", str(text)).strip()


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (a half of a UTF-16 pair, which no
    UTF-8 file, database or JSON answer can hold), or None."""
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return index
    return None


def check_input(value, key: str):
    """The one check of text a person or program hands in (CLI options, API bodies, rule files):
    every string in ``value`` (nested lists and mappings too) must be free of lone surrogates.
    ``UsageError`` naming the key otherwise (exit 2 on the command line, 400 in the API)."""
    stack = [(value, key)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            at = lone_surrogate(item)
            if at is not None:
                from .errors import UsageError

                raise UsageError(
                    f"{where}: holds a lone surrogate ({printable(item[at])}) at character {at + 1}, which is not text",
                    hint="give valid UTF-8 text",
                )
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
            stack.extend((k, where) for k in item)
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return value
