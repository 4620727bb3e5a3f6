"""rules.yaml read safely: its text and parsed document, before any section is checked.

Outside the ``config`` package on purpose: ``ping`` reads rules.yaml on every
job's cron line and must not load the configuration's dataclasses, so this
module imports nothing but PyYAML and the error classes.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# Limits on rules.yaml: a config is a few KB; these stop hostile documents early.
MAX_CONFIG_BYTES = 1024 * 1024  # file size
MAX_CONFIG_DEPTH = 32  # nesting of mappings and lists
MAX_CONFIG_NODES = 100_000  # mappings, lists and scalars, counting every use of an alias


def read_document(path: Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> tuple[Any, str]:
    """rules.yaml's parsed document and its text.  Raises ``ConfigError`` (exit 2) for a
    missing, unreadable, oversized, malformed or hostile (too deep, too large) file."""
    try:
        text = _read_limited(path, max_bytes)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found",
            hint="point at one with --config PATH or PANTRY_ALERT_CONFIG=PATH "
            "(an example with the five standard rules is rules.yaml at the root of pantry-alert's source tree)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return parse_yaml(text, path), text


def parse_yaml(text: str, path: str | os.PathLike) -> Any:
    """YAML 1.1 text as the loader reads it, within the alias and depth limits; ``ConfigError``
    naming the file and line otherwise.  Rule files and cases files are read with it too."""
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:
        raise ConfigError(f"{path}: the document is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            problem = "a tab character in the indentation (YAML indents with spaces only)"
        raise ConfigError(f"{where}: invalid YAML: {problem}", problems=[f"{where}: invalid YAML: {problem}"]) from None
    check_shape(data, Path(path))
    return data


def read_limited(path: str | os.PathLike, what: str = "config file") -> str:
    """A small file's text (``-``: standard input), within the config's size limit; a FIFO or
    device is refused, not waited on.  ``ConfigError`` naming ``what`` otherwise."""
    import sys

    if str(path) == "-":
        data = sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"standard input is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("standard input is not UTF-8 text") from None
    try:
        return _read_limited(Path(path), MAX_CONFIG_BYTES, what)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None


def _read_limited(path: Path, max_bytes: int, what: str = "config file") -> str:
    """A file's text; a FIFO or device is refused (not waited on), and so is a file over ``max_bytes``."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path} is larger than {max_bytes // 1024} KiB")
    return data.decode("utf-8")


def check_shape(data: Any, path: Path) -> None:
    """Refuse documents that are too deep or too large once aliases are expanded (billion laughs)."""
    nodes, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{path}: the document has more than {MAX_CONFIG_NODES} values (counting every use of a YAML alias)",
                hint="a rules.yaml is a few hundred values; look for aliases (*name) that repeat large parts",
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path}: the document is nested more than {MAX_CONFIG_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node.keys())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
