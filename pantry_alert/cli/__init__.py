"""The command line: glue between typer and the library.

Errors are mapped to exit codes in one place (``report_error``).  The typer
application lives in ``cli.application`` and is imported only when needed:
the cron hot path ``pantry-alert [--config X] [--db X] check [options]`` is
recognised by ``_fast_check`` and runs without importing typer (whose
pydantic adapters cost ~80 ms per run).  Anything it does not recognise
exactly (``--help``, a typo, a bad value) goes to typer, which owns every
usage message.
"""

from __future__ import annotations

import os
import sys


def __getattr__(name: str):
    if name == "app":  # `from . import app` in the command modules
        from .application import app

        return app
    raise AttributeError(name)


def report_error(exc: BaseException, debug: bool) -> int:
    """Print a library error the way every command does; return its exit code."""
    from ..errors import ConfigError, PantryAlertError

    if not isinstance(exc, PantryAlertError):
        if debug:
            raise exc
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "hint: run again with --debug for a traceback, and report it\n"
        )
        return 70
    if debug:
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"error: {exc.message}\n")
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            sys.stderr.write(f"  {problem}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")
    return exc.exit_code


_CHECK_VALUE_OPTIONS = {"--metrics-file": "metrics_file", "--metrics-url": "metrics_url", "--fail-on": "fail_on"}
_CHECK_FLAGS = {"--dry-run": "dry_run", "--json": "as_json"}


def _fast_check(argv: list[str]):
    """(globals, options) when argv is a plain `check` invocation, else None."""
    from .common import Globals

    g = Globals(config_path=os.environ.get("PANTRY_ALERT_CONFIG") or None, db=os.environ.get("PANTRY_ALERT_DB") or None)
    i = 0
    while i < len(argv) and argv[i] != "check":
        if argv[i] in ("--config", "--db") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            setattr(g, "config_path" if argv[i] == "--config" else "db", argv[i + 1] or None)
            i += 2
        elif argv[i] == "--debug":
            g.debug = True
            i += 1
        else:
            return None
    if i == len(argv):
        return None
    options = {"metrics_file": None, "metrics_url": None, "fail_on": None, "dry_run": False, "as_json": False}
    rest = argv[i + 1 :]
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg in _CHECK_FLAGS:
            options[_CHECK_FLAGS[arg]] = True
            j += 1
        elif (
            arg in _CHECK_VALUE_OPTIONS
            and j + 1 < len(rest)
            and (rest[j + 1] == "-" or not rest[j + 1].startswith("-"))
        ):
            options[_CHECK_VALUE_OPTIONS[arg]] = rest[j + 1]
            j += 2
        else:
            return None
    return g, options


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run a command, map every error to its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    fast = _fast_check(argv)
    try:
        if fast is not None:
            from .check import execute

            code = execute(fast[0], **fast[1])
        else:
            code = _typer_main(argv)
    except Exception as exc:
        code = report_error(exc, debug)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        _silence_stdout()
    return code if isinstance(code, int) else 0


def _silence_stdout() -> None:
    """stdout is broken: point it at /dev/null so the interpreter's final flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _typer_main(argv: list[str]) -> int:
    import typer
    from typer._click.exceptions import ClickException  # typer 0.29 vendors click: its own classes

    from .application import app

    command = typer.main.get_command(app)
    try:
        return command.main(args=argv, prog_name="pantry-alert", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 1


def run() -> None:
    sys.exit(main())
