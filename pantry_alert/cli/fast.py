"""The fast path: a plain cron line runs its command without importing typer.

``pantry-alert [--config X] [--db X] [--debug] COMMAND [options]`` for a command in
``FAST_COMMANDS`` is parsed here from the command's option table; typer's import and its
command tree cost more than a quiet run itself.  Anything the table does not describe exactly
(a typo, a missing value, a global option after the command, a command's ``--help``) is left
to typer, which owns every usage message.  A bare ``pantry-alert --help`` prints the text typer
would print, kept in ``help_text`` (typer's import alone costs more than a quiet check).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .common import Globals

# command -> module of this package with ``OPTIONS`` (option -> (parameter name, takes a value))
# and ``execute(globals, **options)`` returning the exit code.  A test compares each table
# with the typer command.
FAST_COMMANDS = {"check": "check"}
_GLOBAL_VALUES = ("--config", "--db")


def parse(argv: list[str]) -> tuple[Callable[..., int], Globals, dict] | None:
    """``(execute, globals, options)`` for a fast command line, else None."""
    found = _globals(argv)
    if found is None:
        return None
    g, i = found
    module = import_module(f".{FAST_COMMANDS[argv[i]]}", __package__)
    options = _options(argv[i + 1 :], module.OPTIONS)
    return None if options is None else (module.execute, g, options)


def help_text(argv: list[str]) -> str | None:
    """The top-level help for a bare ``--help`` on a terminal of 80 columns or more (or none: typer's
    width then), else None."""
    if argv != ["--help"]:
        return None
    import shutil

    if shutil.get_terminal_size().columns < 80:
        return None
    from .help_text import TEXT

    return TEXT


def _globals(argv: list[str]) -> tuple[Globals, int] | None:
    """The global options before a fast command, and the command's index."""
    from .common import Globals

    found = split_globals(argv, FAST_COMMANDS)
    if found is None:
        return None
    config_path, db, debug, i = found
    return Globals(config_path=config_path, db=db, debug=debug), i


def split_globals(argv: list[str], commands) -> tuple[str | None, str | None, bool, int] | None:
    """``(config, db, debug, index of the command)`` when only global options come before one of
    ``commands`` (defaults: ``PANTRY_ALERT_CONFIG``, ``PANTRY_ALERT_DB``), else None.  Plain values:
    ``ping``'s fast path uses it without loading ``Globals``."""
    values = {"--config": os.environ.get("PANTRY_ALERT_CONFIG"), "--db": os.environ.get("PANTRY_ALERT_DB")}
    debug = False
    i = 0
    while i < len(argv) and argv[i] not in commands:
        if argv[i] == "--debug":
            debug, i = True, i + 1
        elif argv[i] in _GLOBAL_VALUES and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            values[argv[i]] = argv[i + 1]
            i += 2
        else:
            return None
    if i == len(argv):
        return None
    return values["--config"] or None, values["--db"] or None, debug, i


def _options(args: list[str], table: dict[str, tuple[str, bool]]) -> dict | None:
    """The command's options from ``table``, or None when ``args`` holds anything else."""
    options: dict = {name: (None if takes_value else False) for name, takes_value in table.values()}
    j = 0
    while j < len(args):
        spec = table.get(args[j])
        if spec is None:
            return None
        name, takes_value = spec
        if not takes_value:
            options[name] = True
            j += 1
        elif j + 1 < len(args) and (args[j + 1] == "-" or not args[j + 1].startswith("-")):
            options[name] = args[j + 1]
            j += 2
        else:
            return None
    return options
