"""What every channel's settings share: the section check, the key-or-environment picker,
and the timeout and parallelism parsers.  Config load builds each configured channel's
settings with them, so this module stays light (no ``dataclasses``, no ``typing``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigError

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

DEFAULT_TIMEOUT = 10.0


def check_section(section: dict | None, keys: Sequence[str]) -> dict:
    """A channel's ``channels.<name>`` section, checked to be a mapping of known keys."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError("must be a mapping of " + ", ".join(keys))
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(keys)}")
    return section


def picker(section: dict, env: Mapping[str, str]):
    """``pick(key, VAR)`` -> (value, where it came from): the section's key, else the channel's
    environment variable, else (None, None).  Empty strings count as unset."""

    def pick(key: str, var: str | None) -> tuple[Any, str | None]:
        value = section.get(key)
        if value is not None and value != "":
            return value, key
        value = env.get(var) if var else None
        return (value, f"{var} (environment)") if value not in (None, "") else (None, None)

    return pick


def parse_timeout(value: Any, where: str) -> float:
    """A channel timeout in seconds from ``500ms``, ``10s``, ``1m``; default 10s.

    A bare number other than 0 is ambiguous (seconds? minutes?) and refused, as for every duration
    but a rule's cooldown."""
    from ..timeutil import parse_duration

    if value is None or value == "":
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        raise ConfigError(f"{where}: a bare number ({value!r}) is ambiguous; add a unit, e.g. {value}s or {value}ms")
    try:
        ms = parse_duration(value, what=where)
    except ValueError as exc:
        if "ambiguous" in str(exc):
            raise ConfigError(f"{where}: a bare number ({value!r}) is ambiguous; add a unit, e.g. {value}s") from None
        raise ConfigError(f"{where}: invalid timeout {value!r} (use e.g. 10s, 500ms or 1m)") from None
    if ms <= 0:
        raise ConfigError(f"{where}: timeout must be positive, got {value!r}")
    return ms / 1000


DEFAULT_MAX_PARALLEL = 8
MAX_PARALLEL_LIMIT = 64


def parse_max_parallel(value: Any, where: str) -> int:
    """How many sends of one channel may be in flight at once: a whole number 1-64; default 8."""
    if value is None or value == "":
        return DEFAULT_MAX_PARALLEL
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ConfigError(f"{where}: must be a whole number from 1 to {MAX_PARALLEL_LIMIT}, not {value!r}")
    number = int(str(value).strip())
    if not 1 <= number <= MAX_PARALLEL_LIMIT:
        raise ConfigError(f"{where}: must be from 1 to {MAX_PARALLEL_LIMIT}, not {number}")
    return number
