"""The command line: glue between typer and the library.

Errors are mapped to exit codes in one place (``report_error``).  The typer
application lives in ``cli.application`` and is imported only when needed:
the cron hot path ``pantry-alert [--config X] [--db X] check [options]`` (and
any command in ``fast.FAST_COMMANDS``) is recognised by ``fast.parse`` and runs
without importing typer; so does a job's ``... ping NAME [options] [-- CMD]``
(``ping.parse_fast``), which must not even load what ``check`` needs.  Anything it does not recognise
exactly (``--help``, a typo, a bad value) goes to typer, which owns every
usage message.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any


def __getattr__(name: str):
    if name == "app":  # `from . import app` in the command modules
        from .application import app

        return app
    raise AttributeError(name)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of a library error: the command line's mapping, in one place."""
    from .. import errors

    for cls, code in (
        (errors.UsageError, 2),
        (errors.ConfigError, 2),
        (errors.ChannelNotConfigured, 2),
        (errors.MetricsError, 3),
        (errors.StateError, 4),
        (errors.PantryAlertError, 1),
    ):
        if isinstance(exc, cls):
            return code
    return 70


def report_error(exc: BaseException, debug: bool, argv: list[str] | None = None) -> int:
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
        sys.stderr.write(f"hint: {_with_config(exc.hint, argv or [])}\n")
    return exit_code_for(exc)


def _with_config(hint: str, argv: list[str]) -> str:
    """A hint naming a command keeps the ``--config`` the user gave, so it checks the same file."""
    import shlex

    config = None
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            config = argv[i + 1]
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
    if config is None:
        return hint
    return hint.replace("pantry-alert rules validate", f"pantry-alert --config {shlex.quote(config)} rules validate")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run a command, map every error to its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        ping = _parse_ping(argv)  # before the table: a job's ping must not load what check needs
        if ping is not None:
            from .ping import execute as execute_ping

            code = execute_ping(**ping)
        else:
            code = _fast_or_typer(argv)
    except Exception as exc:
        code = report_error(exc, debug, argv)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        _silence_stdout()
    return code if isinstance(code, int) else 0


def _fast_or_typer(argv: list[str]) -> int:
    from .fast import help_text, parse

    fast = parse(argv)
    text = None if fast is not None else help_text(argv)
    if text is not None:
        sys.stdout.write(text)
        return 0
    if fast is not None:
        execute, g, options = fast
        return execute(g, **options)
    return _typer_main(argv)


def _parse_ping(argv: list[str]):
    """``ping``'s own fast path (a positional name, a wrapped command after ``--``): the keyword
    arguments of ``ping.execute``, or None."""
    if "ping" not in argv:
        return None
    from .ping import parse_fast

    return parse_fast(argv)


GLOBAL_OPTIONS = ("--config", "--db", "--debug")


def _misplaced_global(argv: list[str]) -> str | None:
    """A global option written after the command (``check --config x``), which typer would call unknown."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("--config", "--db") else 1
    for arg in argv[i + 1 :]:
        if arg == "--":
            break
        if arg.split("=", 1)[0] in GLOBAL_OPTIONS:
            return arg.split("=", 1)[0]
    return None


def _silence_stdout() -> None:
    """stdout is broken: point it at /dev/null so the interpreter's final flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


PROG = "pantry-alert"
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _explicit_shell(argv: list[str]) -> tuple[str, str] | None:
    """``(option, shell)`` for ``--show-completion SHELL`` or ``--install-completion SHELL`` (or
    ``OPTION=SHELL``) before the command.  typer reads these options as flags and guesses the shell
    from the parent process, which fails without one (cron, CI, an IDE): a shell named wins."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        option, _, value = argv[i].partition("=")
        if option in ("--show-completion", "--install-completion"):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            return (option, value) if value in COMPLETION_SHELLS else None
        i += 2 if argv[i] in ("--config", "--db") else 1
    return None


def _completion(option: str, shell: str) -> int:
    from typer.completion import get_completion_script, install

    complete_var = "_{}_COMPLETE".format(PROG.replace("-", "_").upper())
    if option == "--show-completion":
        print(get_completion_script(prog_name=PROG, complete_var=complete_var, shell=shell))
        return 0
    shell, path = install(shell=shell, prog_name=PROG, complete_var=complete_var)
    print(f"{shell} completion installed in {path}\nCompletion will take effect once you restart the terminal")
    return 0


_built: list[Any] = []  # the click command, once built


def _command(typer: Any, app: Any) -> Any:
    """The click command typer builds from ``app``, built once per process (it takes ~20 ms and
    does not change; the library and the tests run many commands in one process)."""
    if not _built:
        _built.append(typer.main.get_command(app))
    return _built[0]


def _typer_main(argv: list[str]) -> int:
    """Run the typer application; usage errors are typer's own (printed, exit 2)."""
    import typer

    from .application import app

    explicit = _explicit_shell(argv)
    if explicit is not None:
        return _completion(*explicit)
    misplaced = _misplaced_global(argv)
    if misplaced and "--help" not in argv:
        sys.stderr.write(
            f"error: {misplaced} is a global option: put it before the command, e.g. "
            f"pantry-alert {misplaced}{' PATH' if misplaced != '--debug' else ''} {argv[0] if argv else 'check'} ...\n"
            "hint: in cron lines and units, PANTRY_ALERT_CONFIG and PANTRY_ALERT_DB work anywhere\n"
        )
        return 2
    command = _command(typer, app)
    try:
        command.main(args=argv, prog_name=PROG, standalone_mode=True)
    except SystemExit as exc:  # standalone mode ends every command (and every usage error) this way
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
